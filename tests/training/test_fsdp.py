"""The module under fully sharded data parallel on 2 gloo CPU ranks (torch's ``fully_shard``, FSDP2).

Lightning's FSDP strategy needs a GPU, so this drives the same sharding by hand: one FSDP unit per encoder and
per projection head, as ``experiments/tiny_fsdp.yaml`` asks Lightning for. The ranks hold different modality
mixes (rank 0 no audio at all), so rank 0's audio encoder and head run on a placeholder: without it the
ranks' all-gathers would not match. The loss and the gathered gradients equal one unsharded process on the
union of the two batches.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from unibind.alignment import MoEAligner
from unibind.cli import main
from unibind.datasets import ManifestDataset, write_shapes_dataset
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, OpenClipImageEncoder, OpenClipTextEncoder, TimmAudioEncoder
from unibind.modalities import AudioSpec, ImageSpec, TextSpec
from unibind.objectives import MultiPositiveInfoNCELoss
from unibind.training import UnibindModule

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")  # no Trainer here
SPECS = {"image": ImageSpec(32), "text": TextSpec(), "audio": AudioSpec(clip_seconds=0.5)}


def make_module() -> UnibindModule:
    torch.manual_seed(0)
    encoders = {
        "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG),
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "audio": TimmAudioEncoder("test_convnext", n_mels=32),
    }
    embedder = UnifiedEmbedder(encoders, 32, MoEAligner(32, num_experts=4, top_k=2, modalities=list(encoders)))
    return UnibindModule(embedder, objective=MultiPositiveInfoNCELoss(), placeholder_specs=SPECS).train()


def rank_items(dataset: ManifestDataset, rank: int) -> list[int]:
    """Rank 0: six image + text items; rank 1: six items with audio (some also with an image)."""
    return [i for i in range(len(dataset)) if ("audio" in dataset.items[i].fields) == (rank == 1)][:6]


def _worker(rank: int, world: int, port: int, corpus: str, out: str) -> None:
    from torch.distributed.fsdp import fully_shard

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        module = make_module()
        for unit in [*module.embedder.encoders.values(), *module.embedder.heads.values()]:
            fully_shard(unit)
        dataset = ManifestDataset(Path(corpus) / "train.jsonl", SPECS)
        batch = dataset.collate([dataset[i] for i in rank_items(dataset, rank)])
        loss = module.training_step(batch, 0)
        loss.backward()
        grads = {}
        for name, param in module.named_parameters():
            grad = param.grad
            if grad is None:
                continue
            if hasattr(grad, "full_tensor"):  # a sharded parameter: FSDP reduce-scattered the mean over ranks
                grad = grad.full_tensor()
            else:  # an unsharded one (aligner, objective): average as DDP would
                dist.all_reduce(grad)
                grad = grad / world
            grads[name] = grad
        if rank == 0:
            torch.save({"loss": loss.detach(), "grads": grads, "rows": batch["present"]}, Path(out) / "fsdp.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_sharded_encoders_on_mixed_ranks_match_one_process(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_shapes_dataset(corpus, {"train": 3}, size=32, seed=1, sounds=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(corpus), str(tmp_path)), nprocs=2, join=True)
    sharded = torch.load(tmp_path / "fsdp.pt", weights_only=True)
    assert "audio" not in sharded["rows"]  # rank 0 had no audio: its audio tower ran on a placeholder

    module = make_module()
    dataset = ManifestDataset(corpus / "train.jsonl", SPECS)
    batch = dataset.collate([dataset[i] for i in rank_items(dataset, 0) + rank_items(dataset, 1)])
    loss = module.training_step(batch, 0)
    loss.backward()
    torch.testing.assert_close(sharded["loss"], loss.detach(), atol=1e-5, rtol=1e-5)
    grads = {name: p.grad for name, p in module.named_parameters() if p.grad is not None}
    assert sharded["grads"].keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(sharded["grads"][name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_the_fsdp_config_wraps_encoders_and_heads(capsys: pytest.CaptureFixture[str]) -> None:
    """Lightning's FSDP strategy cannot start without a GPU; the config still parses, with the same units."""
    config = Path(__file__).resolve().parents[2] / "experiments" / "tiny_fsdp.yaml"
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(config), "--print_config"])
    strategy = yaml.safe_load(capsys.readouterr().out)["trainer"]["strategy"]
    assert strategy["class_path"] == "lightning.pytorch.strategies.FSDPStrategy"
    wrapped = sorted(strategy["init_args"]["auto_wrap_policy"])  # a set of classes
    assert wrapped == ["unibind.alignment.ProjectionHead", "unibind.encoders.Encoder"]
    assert strategy["init_args"]["state_dict_type"] == "full"
