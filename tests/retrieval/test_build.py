"""`unibind index build` and `unibind search` with a tiny saved model on the shapes manifests."""

from pathlib import Path

import pytest

from unibind.cli import main
from unibind.embedder import UnifiedEmbedder
from unibind.retrieval import VectorIndex


def test_build_and_search(
    tmp_path: Path, tiny_embedder: UnifiedEmbedder, shapes_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_embedder.save_pretrained(tmp_path / "model")
    argv = ["index", "build", "--model", str(model), "--manifest", str(shapes_dir / "val.jsonl")]
    assert main([*argv, "--modalities", "image", "text", "--out", str(tmp_path / "idx"), "--dtype", "float16"]) == 0
    index = VectorIndex.load(tmp_path / "idx")
    assert set(index.modalities) == {"image", "text"}
    assert all("#" in item for item in index.ids)
    assert "indexed" in capsys.readouterr().out
    assert (
        main(
            [
                "search",
                "--model",
                str(model),
                "--index",
                str(tmp_path / "idx"),
                "--text",
                "a red circle",
                "-k",
                "3",
                "--modalities",
                "image",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert all(line.split()[-1].endswith("#image") for line in lines)


def test_build_without_media(tmp_path: Path, tiny_embedder: UnifiedEmbedder, shapes_dir: Path) -> None:
    model = tiny_embedder.save_pretrained(tmp_path / "model")
    argv = ["index", "build", "--model", str(model), "--manifest", str(shapes_dir / "val.jsonl"), "--no-media"]
    assert main([*argv, "--modalities", "image", "--out", str(tmp_path / "idx")]) == 0
    assert len(VectorIndex.load(tmp_path / "idx")) == 16  # one validation image per (colour, shape) concept
    assert not any((tmp_path / "idx" / "media").iterdir())
