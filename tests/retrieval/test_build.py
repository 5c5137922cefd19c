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


def _manifest_with_a_corrupt_image(shapes_dir: Path, folder: Path) -> Path:
    """The validation manifest, copied with its images, where one image file is truncated."""
    import json
    import shutil

    rows = [json.loads(line) for line in (shapes_dir / "val.jsonl").read_text().splitlines() if line.strip()]
    for row in rows:
        target = folder / row["image"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shapes_dir / row["image"], target)
    broken = folder / rows[3]["image"]
    broken.write_bytes(broken.read_bytes()[:40])
    (folder / "val.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder / "val.jsonl"


def test_a_bad_file_is_named_or_skipped_and_counted(
    tmp_path: Path, tiny_embedder: UnifiedEmbedder, shapes_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from unibind.modalities import InputError

    model = tiny_embedder.save_pretrained(tmp_path / "model")
    manifest = _manifest_with_a_corrupt_image(shapes_dir, tmp_path / "data")
    argv = ["index", "build", "--model", str(model), "--manifest", str(manifest), "--no-media"]
    argv += ["--modalities", "image", "text", "--out", str(tmp_path / "idx")]
    with pytest.raises(InputError, match=r"item '.+' \(image\): cannot decode image"):
        main(argv)
    assert main([*argv, "--on-error", "skip"]) == 0
    index = VectorIndex.load(tmp_path / "idx")
    assert len(index) == 31  # 16 images and 16 captions, less the broken image
    assert "skipped 1 manifest rows or inputs" in caplog.text


def test_hybrid_search_fuses_dense_and_bm25_over_card_texts(
    tmp_path: Path, tiny_embedder: UnifiedEmbedder, shapes_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unibind.retrieval import fuse_rankings
    from unibind.retrieval.build import search_text
    from unibind.retrieval.lexical import BM25Index
    from unibind.retrieval.payload import read_items

    model = tiny_embedder.save_pretrained(tmp_path / "model")
    argv = ["index", "build", "--model", str(model), "--manifest", str(shapes_dir / "val.jsonl"), "--no-media"]
    assert main([*argv, "--modalities", "image", "text", "--out", str(tmp_path / "idx")]) == 0
    query = "a red circle"
    dense = dict(search_text(model, tmp_path / "idx", query, k=100))
    cards = [card for card in read_items(tmp_path / "idx").values() if card.text]
    lexical = BM25Index([c.id for c in cards], [c.text for c in cards]).search([query], 100)[0]
    assert any(score > 0 for score in lexical.values())
    for how in ("rrf", "zscore"):
        expected = fuse_rankings([dense, lexical], how, top_k=5)
        found = search_text(model, tmp_path / "idx", query, k=5, hybrid=how)
        assert [item for item, _ in found] == [item for item, _ in expected]
        assert [score for _, score in found] == pytest.approx([score for _, score in expected])
    capsys.readouterr()
    search = ["search", "--model", str(model), "--index", str(tmp_path / "idx"), "--text", query, "-k", "3"]
    assert main([*search, "--hybrid", "rrf"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_build_and_search_on_every_backend(
    tmp_path: Path, tiny_embedder: UnifiedEmbedder, shapes_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unibind.retrieval.backends import BACKENDS

    model = tiny_embedder.save_pretrained(tmp_path / "model")
    manifest = ["--manifest", str(shapes_dir / "val.jsonl"), "--modalities", "image", "text"]
    answers = {}
    for backend in BACKENDS:  # 32 items: IVF has one cell and HNSW visits every node, so all are exact here
        argv = ["index", "build", "--model", str(model), *manifest, "--out", str(tmp_path / backend), "--no-media"]
        assert main([*argv, "--backend", backend, *(["--milvus-index", "HNSW"] if backend == "milvus" else [])]) == 0
        capsys.readouterr()
        query = ["--text", "a red circle", "--modalities", "image"]
        assert main(["search", "--model", str(model), "--index", str(tmp_path / backend), *query]) == 0
        answers[backend] = [line.split()[-1] for line in capsys.readouterr().out.strip().splitlines()]
    assert all(answer == answers["exact"] for answer in answers.values()), answers
    assert len(answers["exact"]) == 10
    assert all(item.endswith("#image") for item in answers["exact"])
    index = VectorIndex.load(tmp_path / "milvus")
    assert (index.backend.name, index.options["index_type"]) == ("milvus", "HNSW")
    assert (tmp_path / "milvus" / "milvus.db").is_dir()
    assert (tmp_path / "faiss-ivf" / "faiss" / "0.index").is_file()
    with pytest.raises(SystemExit, match="apply to --backend milvus, not faiss-hnsw"):
        main(["index", "build", "--model", str(model), *manifest, "--out", str(tmp_path / "x"), "--backend",
              "faiss-hnsw", "--milvus-uri", "http://localhost:19530"])  # fmt: skip


def test_a_matryoshka_index_keeps_the_first_dims_and_cuts_its_queries(
    tmp_path: Path, tiny_embedder: UnifiedEmbedder, shapes_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from unibind.serve import SearchEngine

    tiny_embedder.matryoshka_dims = (8, 16, 32)
    model = tiny_embedder.save_pretrained(tmp_path / "model")
    argv = ["index", "build", "--model", str(model), "--manifest", str(shapes_dir / "val.jsonl"), "--no-media"]
    assert main([*argv, "--modalities", "image", "text", "--out", str(tmp_path / "idx8"), "--dim", "8"]) == 0
    assert main([*argv, "--modalities", "image", "text", "--out", str(tmp_path / "idx"), "--on-error", "raise"]) == 0
    small, full = VectorIndex.load(tmp_path / "idx8"), VectorIndex.load(tmp_path / "idx")
    assert small.dim == 8
    assert small.ids == full.ids
    torch.testing.assert_close(small.vectors, torch.nn.functional.normalize(full.vectors[:, :8], dim=1))
    capsys.readouterr()
    assert main(["search", "--model", str(model), "--index", str(tmp_path / "idx8"), "--text", "a red circle"]) == 0
    found = [line.split()[-1] for line in capsys.readouterr().out.strip().splitlines()]
    loaded = UnifiedEmbedder.from_pretrained(model)
    query = loaded.encode("a red circle", dim=8)
    assert found == small.search(query, 10).ids[0]
    engine = SearchEngine(model, tmp_path / "idx8")
    torch.testing.assert_close(engine.embed("text", "a red circle"), query[0], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"trained for dimensions \[8, 16, 32\]"):
        main([*argv, "--modalities", "text", "--out", str(tmp_path / "x"), "--dim", "12"])
    tiny_embedder.matryoshka_dims = None
    plain = tiny_embedder.save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match="the index holds 8-d vectors, the model makes 32-d ones"):
        SearchEngine(plain, tmp_path / "idx8")
