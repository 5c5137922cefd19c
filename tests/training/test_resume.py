"""A real training process killed with SIGKILL and resumed with ``--ckpt_path last`` ends with the same weights as
the uninterrupted run: mid-epoch, at an epoch boundary, and when killed between a step checkpoint and
``last.ckpt`` moving to it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from tests.training.processes import REPO, fit

from unibind.datasets import write_shapes_dataset


def write_config(tmp_path: Path, name: str, shapes_dir: Path, every: int, killer: dict | None = None) -> Path:
    """tiny.yaml for 4 epochs of 6 steps, checkpoints every ``every`` steps, patch dropout (so the global random
    state matters) and a caption drawn at random per item (so the per-sample random state matters)."""
    config = yaml.safe_load((REPO / "experiments" / "tiny.yaml").read_text())
    root = tmp_path / name
    vision = config["model"]["embedder"]["init_args"]["encoders"]["image"]["init_args"]["model_cfg"]["vision_cfg"]
    vision["patch_dropout"] = 0.25
    checkpoint = {"dirpath": str(root / "checkpoints"), "every_n_train_steps": every, "save_last": "link"}
    callbacks = [
        {"class_path": "unibind.training.SaveEmbedder", "init_args": {"dirpath": str(root / "model")}},
        {"class_path": "unibind.training.ResumableCheckpoint", "init_args": checkpoint},
    ]
    if killer is not None and killer["class_path"] == "probes.KillBeforeLastLink":
        callbacks[1] = {"class_path": killer["class_path"], "init_args": {**checkpoint, **killer["init_args"]}}
    elif killer is not None:
        callbacks.append(killer)
    config["trainer"].update(
        max_epochs=4,
        accelerator="cpu",
        default_root_dir=str(root),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    config["data"]["init_args"].update(
        train=str(shapes_dir / "train.jsonl"), val=str(shapes_dir / "val.jsonl"), test=str(shapes_dir / "val.jsonl")
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def weights(root: Path) -> dict[str, torch.Tensor]:
    return load_file(str(root / "model" / "model.safetensors"))


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """192 training items: 6 batches of 32 per epoch."""
    root = tmp_path_factory.mktemp("shapes6")
    write_shapes_dataset(root, {"train": 12, "val": 1}, size=32, seed=3)
    return root


@pytest.fixture(scope="module")
def uninterrupted(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    tmp_path = tmp_path_factory.mktemp("reference")
    result = fit(write_config(tmp_path, "reference", corpus, every=5))
    assert result.returncode == 0, result.stderr[-3000:]
    return weights(tmp_path / "reference")


@pytest.mark.parametrize(
    ("every", "killer", "resumed_step"),
    [
        # killed after the step-10 checkpoint was written and before last.ckpt moved to it: last.ckpt still
        # names the step-5 file, which is already deleted; step 10 is mid-epoch (epoch 1, batch 4 of 6)
        (5, {"class_path": "probes.KillBeforeLastLink", "init_args": {"step": 10}}, 10),
        # killed at the start of step 12, after the checkpoint of the last batch of epoch 1: an epoch boundary
        (6, {"class_path": "probes.KillAtStep", "init_args": {"step": 12}}, 12),
    ],
    ids=["mid-epoch-before-last-link", "epoch-boundary"],
)
def test_sigkill_and_resume_reaches_the_uninterrupted_weights(
    tmp_path: Path, corpus: Path, uninterrupted: dict[str, torch.Tensor], every: int, killer: dict, resumed_step: int
) -> None:
    killed = fit(write_config(tmp_path, "run", corpus, every, killer))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    checkpoints = tmp_path / "run" / "checkpoints"
    assert not (tmp_path / "run" / "model").exists()
    assert not any(p.name.endswith(".tmp") for p in checkpoints.iterdir())  # only whole files
    resumed = fit(write_config(tmp_path, "run", corpus, every), "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"step={resumed_step:02d}" in resumed.stderr or f"step={resumed_step}" in resumed.stderr
    assert max_difference(weights(tmp_path / "run"), uninterrupted) <= 1e-6
