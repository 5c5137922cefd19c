"""The tiny config end to end through the real CLI: fit, save, reload, print_config."""

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from unibind.cli import main
from unibind.datasets import ManifestDataset
from unibind.embedder import UnifiedEmbedder
from unibind.modalities import ImageSpec, TextSpec
from unibind.training.cli import run_lightning_cli

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "experiments" / "tiny.yaml"


def tiny_config(tmp_path: Path, shapes_dir: Path, **trainer) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config["trainer"].update(
        {"max_epochs": 2, "default_root_dir": str(tmp_path), "enable_progress_bar": False, **trainer}
    )
    # every folder a callback writes goes under tmp_path
    folders = {"SaveEmbedder": ("dirpath", "model"), "ResumableCheckpoint": ("dirpath", "checkpoints"),
               "EmbeddingWriter": ("out_dir", "predictions")}  # fmt: skip
    for callback in config["trainer"]["callbacks"]:
        key, name = folders[callback["class_path"].rsplit(".", 1)[-1]]
        callback["init_args"][key] = str(tmp_path / name)
    config["data"]["init_args"].update(
        train=str(shapes_dir / "train.jsonl"), val=str(shapes_dir / "val.jsonl"), test=str(shapes_dir / "val.jsonl")
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_fit_saves_a_model_that_reloads_to_identical_embeddings(tmp_path: Path, shapes_dir: Path) -> None:
    cli = run_lightning_cli(["fit", "--config", str(tiny_config(tmp_path, shapes_dir))])
    assert cli.trainer.current_epoch == 2
    assert "val/image_to_text/R@1" in cli.trainer.callback_metrics
    reloaded = UnifiedEmbedder.from_pretrained(tmp_path / "model")
    dataset = ManifestDataset(shapes_dir / "val.jsonl", {"image": ImageSpec(32), "text": TextSpec()})
    batch = dataset.collate([dataset[i] for i in range(6)])["inputs"]
    trained = cli.model.embedder.eval()
    with torch.no_grad():
        for modality, inputs in batch.items():
            assert torch.equal(trained.align(modality, inputs).embedding, reloaded.align(modality, inputs).embedding)


def test_validate_and_test_subcommands(tmp_path: Path, shapes_dir: Path) -> None:
    config = str(tiny_config(tmp_path, shapes_dir))
    assert main(["validate", "--config", config]) == 0
    assert main(["test", "--config", config]) == 0


def test_print_config(tmp_path: Path, shapes_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(tiny_config(tmp_path, shapes_dir)), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    encoders = printed["model"]["embedder"]["init_args"]["encoders"]
    assert encoders["image"]["class_path"] == "unibind.encoders.OpenClipImageEncoder"
    assert printed["model"]["embedder"]["init_args"]["aligner"]["init_args"]["num_experts"] == 4


def test_skip_mode_counts_bad_items_in_training(tmp_path: Path, shapes_dir: Path) -> None:
    broken = tmp_path / "data"
    broken.mkdir()
    lines = (shapes_dir / "train.jsonl").read_text().splitlines()
    shutil.copytree(shapes_dir / "images", broken / "images")
    (broken / "corrupt.png").write_bytes(b"not a png")
    lines.append('{"id": "broken", "image": "corrupt.png", "text": "a broken image"}')
    (broken / "train.jsonl").write_text("\n".join(lines) + "\n")
    config = yaml.safe_load(tiny_config(tmp_path, shapes_dir, max_epochs=1).read_text())
    config["data"]["init_args"].update(train=str(broken / "train.jsonl"), on_error="skip", batch_size=64)
    path = tmp_path / "skip.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = run_lightning_cli(["fit", "--config", str(path)])
    assert cli.model.skipped_items == 1
