"""Under DDP, features are gathered with gradients: 2 gloo processes must reproduce the 1-process gradient."""

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from unibind.objectives import InfoNCELoss, SigLIPLoss, gather_objects


def _model_and_data():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    x = torch.randn(8, 6)
    y = torch.randn(8, 6)
    return model, x, y


def _loss(model, loss_fn, x, y):
    a = torch.nn.functional.normalize(model(x), dim=-1)
    b = torch.nn.functional.normalize(model(y), dim=-1)
    return sum(
        loss_fn(a, b, torch.arange(len(x)) + (dist.get_rank() * len(x) if dist.is_initialized() else 0)).values()
    )


LOSSES = {"infonce": InfoNCELoss, "siglip": SigLIPLoss}


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        for loss_name, loss_cls in LOSSES.items():
            model, x, y = _model_and_data()
            shard = slice(rank * 4, (rank + 1) * 4)
            loss = _loss(model, loss_cls(), x[shard], y[shard])
            loss.backward()
            grad = model.weight.grad.clone()
            dist.all_reduce(grad)  # what DDP does, followed by its division by the world size
            grad /= world
            if rank == 0:
                torch.save({"loss": loss.detach(), "grad": grad}, Path(out_dir) / f"{loss_name}.pt")
        gathered = gather_objects({"rank": rank, "rows": torch.full((rank + 1,), rank)})
        if rank == 0:
            torch.save({"gathered": gathered}, Path(out_dir) / "objects.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gather_with_grad_matches_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for loss_name, loss_cls in LOSSES.items():
        result = torch.load(tmp_path / f"{loss_name}.pt", weights_only=True)
        model, x, y = _model_and_data()
        loss = _loss(model, loss_cls(), x, y)
        loss.backward()
        torch.testing.assert_close(result["loss"], loss.detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(result["grad"], model.weight.grad, atol=1e-5, rtol=1e-5)
    gathered = torch.load(tmp_path / "objects.pt", weights_only=True)["gathered"]
    assert [g["rank"] for g in gathered] == [0, 1]
    assert [g["rows"].tolist() for g in gathered] == [[0], [1, 1]]
    assert gather_objects("alone") == ["alone"]
