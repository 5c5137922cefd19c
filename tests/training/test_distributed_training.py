"""``unibind fit`` with 2 gloo processes (DDP on the CPU) on a mixed-modality corpus, through the real CLI.

(a) ranks whose batches hold different modality mixes (one missing a modality another has, one a row short
after a skipped unreadable image) train to the end without a hang in bf16 autocast, and every encoder gets a
gradient at every step; (b) one step on 2 processes x 8 items gives the loss and gradients of 1 process x 16
items on the same rows, with and without GradCache; (c) a 2-process run killed with SIGKILL and resumed ends
with the uninterrupted run's weights.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from tests.training.processes import REPO, fit

from unibind.datasets import write_shapes_dataset


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 training items (image + text, audio + text, or all three) plus one whose image cannot be decoded."""
    root = tmp_path_factory.mktemp("mixed")
    write_shapes_dataset(root, {"train": 6, "val": 3}, size=32, seed=5, sounds=True)
    (root / "images" / "broken.png").write_bytes(b"not a png")
    with (root / "train.jsonl").open("a") as manifest:
        manifest.write(json.dumps({"id": "broken", "image": "images/broken.png", "text": "a broken image"}) + "\n")
    return root


def write_config(folder: Path, corpus: Path, devices: int, batch_size: int, **trainer) -> Path:
    config = yaml.safe_load((REPO / "experiments" / "tiny_ddp.yaml").read_text())
    callbacks = [
        {"class_path": "unibind.training.SaveEmbedder", "init_args": {"dirpath": str(folder / "model")}},
        {"class_path": "probes.RecordSteps", "init_args": {"folder": str(folder / "records")}},
        *trainer.pop("callbacks", []),
    ]
    config["trainer"].update(
        max_epochs=trainer.pop("max_epochs", 2),
        accelerator="cpu",
        devices=devices,
        **({} if devices > 1 else {"strategy": "auto"}),
        default_root_dir=str(folder),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        **trainer,
    )
    config["data"]["init_args"].update(
        train=str(corpus / "train.jsonl"), val=str(corpus / "val.jsonl"), batch_size=batch_size, on_error="skip"
    )
    path = folder / "config.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def records(folder: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in (folder / "records" / f"rank{rank}.jsonl").read_text().splitlines()]


def test_mixed_modalities_train_on_two_ranks_and_every_encoder_learns(tmp_path: Path, mixed: Path) -> None:
    # in bf16 autocast, as a GPU run would be: the gathers, placeholders and keep-alive mix bf16 and float32
    result = fit(write_config(tmp_path, mixed, devices=2, batch_size=2, max_epochs=1, precision="bf16-mixed"))
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [records(tmp_path, 0), records(tmp_path, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 97 // 2 // 2  # both ranks ran every step
    steps = list(zip(*ranks, strict=True))
    assert any(a["rows"] != b["rows"] for a, b in steps)  # the ranks held different mixes
    lacking = [(a, b) for a, b in steps if set(a["rows"]) != set(b["rows"])]
    assert lacking, "no step where one rank lacked a modality the other had"
    assert any(r["items"] < 2 for rank in ranks for r in rank)  # the unreadable image was skipped on one rank
    for a, b in steps:
        assert a["encoder_grad"] == pytest.approx(b["encoder_grad"])  # DDP averaged the gradients
        present = set(a["rows"]) | set(b["rows"])
        for modality in ("image", "text", "audio"):
            assert (a["encoder_grad"][modality] > 0) == (modality in present), (modality, a, b)
    assert (tmp_path / "model" / "model.safetensors").is_file()


ONE_STEP = {"max_steps": 1, "gradient_clip_val": None}


@pytest.fixture(scope="module")
def one_process(mixed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first step of 1 process on batches of 16."""
    folder = tmp_path_factory.mktemp("one")
    result = fit(write_config(folder, mixed, devices=1, batch_size=16, **ONE_STEP))
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


@pytest.mark.parametrize("grad_cache", [None, 3], ids=["plain", "grad-cache-3"])
def test_two_processes_give_the_loss_and_gradients_of_one_process_on_the_same_rows(
    tmp_path: Path, mixed: Path, one_process: Path, grad_cache: int | None
) -> None:
    extra = ("--model.grad_cache_chunk", str(grad_cache)) if grad_cache else ()
    two = fit(write_config(tmp_path, mixed, devices=2, batch_size=8, **ONE_STEP), *extra)
    assert two.returncode == 0, two.stderr[-4000:]
    single = torch.load(one_process / "records" / "step0-rank0.pt", weights_only=True)
    for rank in (0, 1):
        multi = torch.load(tmp_path / "records" / f"step0-rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(multi["loss"], single["loss"], atol=1e-5, rtol=1e-5)
        assert multi["grads"].keys() == single["grads"].keys()
        for name, grad in single["grads"].items():
            torch.testing.assert_close(multi["grads"][name], grad, atol=1e-5, rtol=1e-4, msg=name)
    rows = [records(tmp_path, r)[0]["rows"] for r in (0, 1)]
    together = {m: rows[0].get(m, 0) + rows[1].get(m, 0) for m in ("image", "text", "audio")}
    assert together == records(one_process, 0)[0]["rows"]


def test_two_process_run_killed_and_resumed_matches_the_uninterrupted_run(tmp_path: Path, mixed: Path) -> None:
    def config(folder: Path, *extra_callbacks: dict) -> Path:
        checkpoint = {"dirpath": str(folder / "checkpoints"), "every_n_train_steps": 5, "save_last": "link"}
        callbacks = [{"class_path": "unibind.training.ResumableCheckpoint", "init_args": checkpoint}, *extra_callbacks]
        return write_config(folder, mixed, devices=2, batch_size=8, callbacks=callbacks)

    reference = fit(config(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr[-4000:]
    killed = fit(config(tmp_path / "run", {"class_path": "probes.KillAtStep", "init_args": {"step": 8}}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    resumed = fit(config(tmp_path / "run"), "--ckpt_path", "last")  # step 5 of 6: mid-epoch
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    a = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "reference" / "model" / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a if a[k].numel()) <= 1e-6
