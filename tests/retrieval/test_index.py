"""Exact search equals a full sort, FAISS flat equals exact, saving survives a crash, fusion by hand."""

from pathlib import Path

import pytest
import torch

from unibind.retrieval import VectorIndex, fuse_rankings, rrf_fusion, zscore_fusion


def _data(n: int = 500, d: int = 16, q: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=generator), torch.randn(q, d, generator=generator)


def test_float16_storage_keeps_the_ranking_close() -> None:
    items, queries = _data()
    exact, half = VectorIndex(16), VectorIndex(16, dtype="float16")
    ids = [f"d{i}" for i in range(len(items))]
    exact.add(ids, items, "text")
    half.add(ids, items, "text")
    assert half.vectors.dtype == torch.float16
    a, b = exact.search(queries, 10), half.search(queries, 10)
    overlap = sum(len(set(x) & set(y)) for x, y in zip(a.ids, b.ids, strict=True)) / (10 * len(queries))
    assert overlap > 0.9


@pytest.mark.parametrize("backend", ["faiss-flat", "faiss-hnsw", "faiss-ivf"])
def test_faiss_backends(backend: str) -> None:
    pytest.importorskip("faiss", reason="faiss-cpu is not installed")
    items, queries = _data(2000)
    ids = [f"d{i}" for i in range(len(items))]
    options = {"faiss-ivf": {"nlist": 16, "nprobe": 16}}.get(backend, {})
    exact, other = VectorIndex(16), VectorIndex(16, backend=backend, **options)
    exact.add(ids, items, "text")
    other.add(ids, items, "text")
    a, b = exact.search(queries, 10), other.search(queries, 10)
    if backend == "faiss-flat":
        assert a.ids == b.ids
        torch.testing.assert_close(a.scores, b.scores, rtol=1e-5, atol=1e-5)
    else:  # approximate, but with these settings nearly exact
        overlap = sum(len(set(x) & set(y)) for x, y in zip(a.ids, b.ids, strict=True)) / (10 * len(queries))
        assert overlap >= 0.9


def test_cross_modal_search_and_padding() -> None:
    index = VectorIndex(3)
    index.add(["img"], torch.tensor([[1.0, 0, 0]]), "image")
    index.add(["txt", "aud"], torch.tensor([[1.0, 0.1, 0], [0.9, 0, 0.1]]), ["text", "audio"])
    result = index.search(torch.tensor([1.0, 0, 0]), k=2, modalities=["image", "audio"])
    assert result.ids == [["img", "aud"]]
    padded = index.search(torch.tensor([1.0, 0, 0]), k=5)
    assert padded.ids[0][3:] == [None, None]
    with pytest.raises(ValueError, match="already in the index"):
        index.add(["img"], torch.ones(1, 3), "image")
    with pytest.raises(ValueError, match="NaN or inf"):
        index.add(["x"], torch.tensor([[float("nan"), 0, 0]]), "image")


def test_save_load_and_a_crash_mid_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import unibind.atomic as atomic

    items, queries = _data(50)
    index = VectorIndex(16, dtype="float16")
    index.add([f"d{i}" for i in range(50)], items, "text")
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.ids == index.ids
    assert torch.equal(loaded.vectors, index.vectors)
    assert loaded.search(queries, 5).ids == index.search(queries, 5).ids
    bigger = VectorIndex(16)
    bigger.add([f"e{i}" for i in range(80)], torch.randn(80, 16), "text")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies here

    with monkeypatch.context() as patch:  # before the commit: the previous index, no temporary folder left
        patch.setattr(atomic.os, "rename", killed)
        with pytest.raises(KeyboardInterrupt):
            bigger.save(tmp_path / "idx")
    assert VectorIndex.load(tmp_path / "idx").ids == index.ids
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["index.json", "vectors.safetensors"]

    calls = []

    def killed_second(source, target):  # after the commit, with vectors.safetensors already replaced
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt
        place(source, target)

    place = atomic._place
    with monkeypatch.context() as patch:
        patch.setattr(atomic, "_place", killed_second)
        with pytest.raises(KeyboardInterrupt):
            bigger.save(tmp_path / "idx")
    survivor = VectorIndex.load(tmp_path / "idx")  # the new index as a whole, not the new vectors with old ids
    assert survivor.ids == bigger.ids
    assert torch.equal(survivor.vectors, bigger.vectors)
    index.save(tmp_path / "idx")  # the next save finishes the interrupted one, then writes its own
    assert VectorIndex.load(tmp_path / "idx").ids == index.ids
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["index.json", "vectors.safetensors"]


def test_save_keeps_other_files_and_clears_old_temporaries(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "0.png").write_bytes(b"png")
    (folder / "items.jsonl").write_text("{}\n")
    (folder / ".vectors.safetensors.tmp").write_bytes(b"left by an older unibind")  # its fixed temporary names
    (folder / ".index.json.tmp").write_text("{")
    index = VectorIndex(4)
    index.add(["a", "b"], torch.eye(4)[:2], "text")
    index.save(folder)
    index.save(folder)  # over an existing index
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["index.json", "items.jsonl", "media", "vectors.safetensors"]
    assert (folder / "media" / "0.png").read_bytes() == b"png"
    assert VectorIndex.load(folder).ids == ["a", "b"]


def test_a_damaged_vectors_file_is_named(tmp_path: Path) -> None:
    from unibind.weights import WeightsError

    index = VectorIndex(4)
    index.add(["a"], torch.ones(1, 4), "text")
    index.save(tmp_path / "idx")
    vectors = tmp_path / "idx" / "vectors.safetensors"
    vectors.write_bytes(vectors.read_bytes()[:-3])
    with pytest.raises(WeightsError, match=r"vectors\.safetensors"):
        VectorIndex.load(tmp_path / "idx")


def test_fusion_by_hand() -> None:
    a = {"x": 3.0, "y": 1.0}  # z: x +1, y -1
    b = {"y": 10.0, "z": 0.0}  # z: y +1, z -1
    assert zscore_fusion([a, b]) == {"x": 1.0, "y": 0.0, "z": -1.0}
    rrf = rrf_fusion([a, b], k=60)
    assert rrf["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert next(item for item, _ in fuse_rankings([a, b], "rrf")) == "y"
    assert [item for item, _ in fuse_rankings([a, b], "zscore", top_k=1)] == ["x"]
    with pytest.raises(ValueError, match="zscore or rrf"):
        fuse_rankings([a], "max")


def test_scoring_is_saved_and_older_indexes_load(tmp_path: Path) -> None:
    import json

    items, queries = _data(40)
    index = VectorIndex(16, scoring="float32")
    index.add([f"d{i}" for i in range(40)], items, "text")
    index.save(tmp_path / "idx")
    assert VectorIndex.load(tmp_path / "idx").backend.scoring == "float32"
    meta_path = tmp_path / "idx" / "index.json"
    meta = json.loads(meta_path.read_text())
    every = {"nlist": 1024, "nprobe": 16, "hnsw_m": 32, "ef_search": 128}  # one options dict for every backend
    for shadow, scoring in ((True, "auto"), (False, "float32")):  # written before ``scoring`` replaced it
        old = {**meta, "dtype": "float32", "options": {**every, "bf16_shadow": shadow}}
        meta_path.write_text(json.dumps(old))
        loaded = VectorIndex.load(tmp_path / "idx")
        assert loaded.options == {"dtype": "float32", "scoring": scoring}
        assert loaded.search(queries, 5).ids == index.search(queries, 5).ids
    for backend, kept in (
        ("faiss-ivf", {"nlist": 1024, "nprobe": 16}),
        ("faiss-hnsw", {"hnsw_m": 32, "ef_search": 128}),
    ):
        meta_path.write_text(
            json.dumps({**meta, "backend": backend, "dtype": "float32", "options": {**every, "scoring": "auto"}})
        )
        assert VectorIndex.load(tmp_path / "idx").options == {"dtype": "float32", **kept}
