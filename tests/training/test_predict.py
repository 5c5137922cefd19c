"""``unibind predict``: ids + vectors per modality in manifest order, each item once, 1 process and 2 gloo ranks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tests.training.test_fit import tiny_config

from unibind.cli import main
from unibind.datasets import ManifestDataset
from unibind.embedder import UnifiedEmbedder
from unibind.modalities import ImageSpec, TextSpec
from unibind.training.prediction import merge_parts

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shapes_dir: Path) -> tuple[Path, Path]:
    """A tiny model fitted for one epoch: ``(config, folder)``; its checkpoints and model/ are in the folder."""
    folder = tmp_path_factory.mktemp("fitted")
    config = tiny_config(folder, shapes_dir, max_epochs=1)
    assert main(["fit", "--config", str(config)]) == 0
    return config, folder


def reference(folder: Path, manifest: Path) -> dict[str, torch.Tensor]:
    """Every item of ``manifest`` embedded by the saved model, in manifest order (the first caption)."""
    model = UnifiedEmbedder.from_pretrained(folder / "model")
    dataset = ManifestDataset(manifest, {"image": ImageSpec(32), "text": TextSpec()})
    batch = dataset.collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        return model(batch["inputs"])


def read_predictions(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    return load_file(str(folder / "embeddings.safetensors")), json.loads((folder / "ids.json").read_text())


def test_predict_writes_every_item_once_in_manifest_order(trained: tuple[Path, Path], shapes_dir: Path) -> None:
    config, folder = trained
    manifest = shapes_dir / "val.jsonl"
    extra = ["--ckpt_path", "last", "--data.init_args.predict", str(manifest), "--data.init_args.batch_size", "5"]
    assert main(["predict", "--config", str(config), *extra]) == 0
    vectors, ids = read_predictions(folder / "predictions")
    expected_ids = [json.loads(line)["id"] for line in manifest.read_text().splitlines()]
    expected = reference(folder, manifest)
    for modality in ("image", "text"):
        assert ids[modality] == expected_ids
        assert vectors[f"{modality}.index"].tolist() == list(range(len(expected_ids)))
        torch.testing.assert_close(vectors[modality], expected[modality], atol=1e-5, rtol=1e-5)
    assert not (folder / ".predictions.parts").exists()


def test_two_ranks_write_their_parts_and_every_id_appears_once(
    trained: tuple[Path, Path], shapes_dir: Path, tmp_path: Path
) -> None:
    config, folder = trained
    manifest = tmp_path / "odd.jsonl"  # 15 items: 2 ranks x batches of 4 pad with one repeat
    manifest.write_text("".join((shapes_dir / "val.jsonl").read_text().splitlines(keepends=True)[:15]))
    shutil.copytree(shapes_dir / "images", tmp_path / "images")
    out = tmp_path / "predicted"
    command = [
        sys.executable, "-m", "unibind.cli", "predict", "--config", str(config), "--ckpt_path", "last",
        "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
        "--data.init_args.predict", str(manifest), "--data.init_args.batch_size", "4",
        "--trainer.callbacks.out_dir", str(out), "--trainer.callbacks.part_rows", "4",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    vectors, ids = read_predictions(out)
    expected_ids = [json.loads(line)["id"] for line in manifest.read_text().splitlines()]
    expected = reference(folder, manifest)
    for modality in ("image", "text"):
        assert ids[modality] == expected_ids
        torch.testing.assert_close(vectors[modality], expected[modality], atol=1e-5, rtol=1e-5)


def test_merge_keeps_the_first_copy_of_a_repeated_item(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    parts = tmp_path / "parts"
    parts.mkdir()
    rows = {0: ([0, 2, 4], ["a", "c", "e"]), 1: ([1, 3, 0], ["b", "d", "a"])}  # rank 1 repeats item 0 (padding)
    for rank, (index, names) in rows.items():
        vectors = torch.tensor(index, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
        save_file(
            {"text": vectors, "text.index": torch.tensor(index)}, str(parts / f"rank-{rank:05d}-part-00000.safetensors")
        )
        (parts / f"rank-{rank:05d}-part-00000.json").write_text(json.dumps({"text": names}))
    assert merge_parts(parts, tmp_path / "out") == {"text": 5}
    vectors, ids = read_predictions(tmp_path / "out")
    assert ids["text"] == ["a", "b", "c", "d", "e"]
    assert vectors["text"][:, 0].tolist() == [0, 1, 2, 3, 4]
