"""Every backend against the exact one: same top-10 (or recall@10 >= .95 where approximate), filtered search
equal to a masked exact search, save/load without rebuilding or retraining, Milvus Lite across processes."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unibind.retrieval import VectorIndex
from unibind.retrieval.backends import BACKEND_FILES, BACKENDS, backend_class

EXACT_BACKENDS = {"faiss-flat": {}, "milvus": {"index_type": "FLAT"}}
APPROXIMATE_BACKENDS = {
    "faiss-ivf": {"nlist": 16, "nprobe": 8},
    "faiss-hnsw": {"hnsw_m": 16, "ef_search": 64},
    "milvus-hnsw": {"index_type": "HNSW", "hnsw_m": 16, "ef_search": 64},
    "milvus-ivf": {"index_type": "IVF_FLAT", "nlist": 16, "nprobe": 8},
}
MODALITIES = ("image", "text", "audio")


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _items(n: int = 3000, d: int = 24) -> tuple[list[str], torch.Tensor, list[str]]:
    """Ids, unit vectors around 40 centres (embeddings cluster by topic), and three modalities."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(40, d, generator=generator)
    vectors = centres[torch.randint(0, 40, (n,), generator=generator)] + 0.6 * torch.randn(n, d, generator=generator)
    modalities = [MODALITIES[(i * 7) % 5 % 3] for i in range(n)]
    return [f"i{i}" for i in range(n)], torch.nn.functional.normalize(vectors, dim=-1), modalities


def _index(backend: str, options: dict, tmp_path: Path, ids, vectors, modalities) -> VectorIndex:
    name = backend.split("-")[0] if backend.startswith("milvus") else backend
    index = VectorIndex(vectors.shape[1], name, folder=tmp_path / backend, **options)
    index.add(ids, vectors, modalities)
    return index


def _queries(vectors: torch.Tensor, n: int = 20) -> torch.Tensor:
    """Queries near stored items (as real queries are), not on them."""
    return torch.nn.functional.normalize(
        vectors[:: len(vectors) // n][:n] + 0.3 * _unit(n, vectors.shape[1], 1), dim=-1
    )


def _masked_top_k(vectors, modalities, queries, k, wanted) -> torch.return_types.topk:
    mask = torch.tensor([wanted is None or m in wanted for m in modalities])
    return (queries @ vectors.T).masked_fill(~mask, float("-inf")).topk(k, dim=1)


def _recall(found: list[list[str | None]], expected: list[list[str]]) -> float:
    return sum(len(set(a) & set(b)) for a, b in zip(found, expected, strict=True)) / sum(map(len, expected))


@pytest.mark.parametrize("backend", list(EXACT_BACKENDS))
@pytest.mark.parametrize("wanted", [None, ["text"], ["audio", "image"]])
def test_exact_backends_return_the_exact_top_10(backend: str, wanted, tmp_path: Path) -> None:
    ids, vectors, modalities = _items()
    queries = _unit(20, vectors.shape[1], 1)
    index = _index(backend, EXACT_BACKENDS[backend], tmp_path, ids, vectors, modalities)
    expected = _masked_top_k(vectors, modalities, queries, 10, wanted)
    result = index.search(queries, 10, wanted)
    assert result.indices.tolist() == expected.indices.tolist()
    assert result.ids == [[ids[i] for i in row] for row in expected.indices.tolist()]
    torch.testing.assert_close(result.scores, expected.values, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", list(APPROXIMATE_BACKENDS))
@pytest.mark.parametrize("wanted", [None, ["text"], ["audio", "image"]])
def test_approximate_backends_find_the_exact_top_10(backend: str, wanted, tmp_path: Path) -> None:
    ids, vectors, modalities = _items()
    queries = _queries(vectors)
    index = _index(backend, APPROXIMATE_BACKENDS[backend], tmp_path, ids, vectors, modalities)
    expected = _masked_top_k(vectors, modalities, queries, 10, wanted)
    result = index.search(queries, 10, wanted)
    assert _recall(result.ids, [[ids[i] for i in row] for row in expected.indices.tolist()]) >= 0.95
    assert all(modalities[i] in (wanted or MODALITIES) for i in result.indices.flatten().tolist())
    found = torch.tensor(
        [[vectors[i] @ q for i in row] for row, q in zip(result.indices.tolist(), queries, strict=True)]
    )
    torch.testing.assert_close(result.scores, found, atol=1e-5, rtol=0)  # the scores are the hits' own


@pytest.mark.parametrize("backend", ["exact", *EXACT_BACKENDS, *APPROXIMATE_BACKENDS])
def test_fewer_hits_than_k_pad_and_an_absent_modality_finds_nothing(backend: str, tmp_path: Path) -> None:
    options = {**EXACT_BACKENDS, **APPROXIMATE_BACKENDS}.get(backend, {})
    index = _index(backend, options, tmp_path, ["a", "b", "c"], _unit(3, 8, 2), ["image", "text", "image"])
    result = index.search(_unit(2, 8, 3), 5, ["image"])
    assert [sorted(filter(None, row)) for row in result.ids] == [["a", "c"]] * 2
    assert [row[2:] for row in result.ids] == [[None] * 3] * 2
    assert torch.isinf(result.scores[:, 2:]).all()
    assert index.search(_unit(1, 8, 3), 2, ["motion"]).ids == [[None, None]]


@pytest.mark.parametrize("backend", ["faiss-flat", "faiss-ivf", "faiss-hnsw"])
def test_faiss_indexes_load_as_saved_without_training(backend: str, tmp_path: Path, monkeypatch) -> None:
    import faiss

    calls = {"train": 0, "new_index": 0}
    train, new_index = faiss.IndexIVFFlat.train, backend_class(backend).new_index

    def counted_train(self, *args):
        calls["train"] += 1
        return train(self, *args)

    def counted_new_index(self, *args):
        calls["new_index"] += 1
        return new_index(self, *args)

    monkeypatch.setattr(faiss.IndexIVFFlat, "train", counted_train)
    monkeypatch.setattr(backend_class(backend), "new_index", counted_new_index)
    ids, vectors, modalities = _items(2000)
    queries = _unit(10, vectors.shape[1], 1)
    index = _index(backend, APPROXIMATE_BACKENDS.get(backend, {}), tmp_path, ids, vectors, modalities)
    before = index.search(queries, 10)
    index.save(tmp_path / "saved")
    assert calls == {"train": 3 if backend == "faiss-ivf" else 0, "new_index": 3}  # one index per modality
    assert sorted(p.name for p in (tmp_path / "saved" / "faiss").iterdir()) == ["0.index", "1.index", "2.index",
                                                                                 "modalities.json"]  # fmt: skip
    loaded = VectorIndex.load(tmp_path / "saved")
    after = loaded.search(queries, 10)
    assert after.ids == before.ids
    torch.testing.assert_close(after.scores, before.scores)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "saved").rglob("*") if p.is_file())
    held = sum(int(faiss.serialize_index(i).nbytes) for i in loaded.backend.indexes.values())
    assert loaded.nbytes == pytest.approx(len(ids) * vectors.shape[1] * 4 + held, rel=0.02)
    assert loaded.nbytes < on_disk
    loaded.add(["new"], queries[:1], "text")  # added to the loaded index, not a rebuilt one
    assert loaded.search(queries[:1], 1).ids == [["new"]]
    assert calls == {"train": 3 if backend == "faiss-ivf" else 0, "new_index": 3}


def test_a_faiss_file_that_disagrees_with_the_ids_is_named(tmp_path: Path) -> None:
    import faiss

    ids, vectors, modalities = _items(300)
    _index("faiss-flat", {}, tmp_path, ids, vectors, modalities).save(tmp_path / "saved")
    faiss.write_index(faiss.IndexFlatIP(vectors.shape[1]), str(tmp_path / "saved" / "faiss" / "1.index"))
    with pytest.raises(ValueError, match=r"1\.index: 0 vectors"):
        VectorIndex.load(tmp_path / "saved")


def test_a_milvus_lite_index_survives_a_restart_of_the_process(tmp_path: Path) -> None:
    ids, vectors, modalities = _items(1500)
    torch.save({"vectors": vectors}, tmp_path / "vectors.pt")
    script = f"""
import torch
from unibind.retrieval import VectorIndex
vectors = torch.load({str(tmp_path / "vectors.pt")!r}, weights_only=True)["vectors"]
index = VectorIndex(vectors.shape[1], "milvus", folder={str(tmp_path / "idx")!r}, index_type="HNSW")
index.add({ids!r}, vectors, {modalities!r})
index.save({str(tmp_path / "idx")!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["index.json", "milvus.db"]
    moved = tmp_path / "moved"
    (tmp_path / "idx").rename(moved)  # the Lite database is found relative to the index folder
    index = VectorIndex.load(moved)
    queries = _unit(10, vectors.shape[1], 1)
    expected = _masked_top_k(vectors, modalities, queries, 10, ["text"])
    result = index.search(queries, 10, ["text"])
    assert _recall(result.ids, [[ids[i] for i in row] for row in expected.indices.tolist()]) >= 0.95
    torch.testing.assert_close(index.vector("i7"), vectors[7])
    assert index.options["index_type"] == "HNSW"


def test_replacing_a_milvus_index_drops_the_old_collection(tmp_path: Path) -> None:
    ids, vectors, modalities = _items(200)
    first = _index("milvus", {}, tmp_path, ids, vectors, modalities)
    first.save(tmp_path / "milvus")
    second = _index("milvus", {}, tmp_path, ids[:50], vectors[:50], modalities[:50])
    second.save(tmp_path / "milvus")
    client = second.backend.client
    assert not client.has_collection(first.backend.collection)
    assert VectorIndex.load(tmp_path / "milvus").ids == ids[:50]
    client.drop_collection(second.backend.collection)
    with pytest.raises(ValueError, match=r"collection .* is not at"):
        VectorIndex.load(tmp_path / "milvus")


def test_the_registry_names_every_backend_and_refuses_unknown_ones() -> None:
    assert set(BACKENDS) == {"exact", "faiss-flat", "faiss-ivf", "faiss-hnsw", "milvus"}
    assert set(BACKEND_FILES) == {name for backend in BACKENDS for name in backend_class(backend).files}
    assert all(backend_class(name).name == name for name in BACKENDS)
    with pytest.raises(ValueError, match="unknown index backend 'annoy'"):
        VectorIndex(8, "annoy")
    with pytest.raises(ValueError, match="takes no option 'nlist'; it takes dtype"):
        VectorIndex(8, "faiss-flat", nlist=4)
    with pytest.raises(ValueError, match="float32"):
        VectorIndex(8, "faiss-hnsw", dtype="float16")
    with pytest.raises(ValueError, match="index_type must be one of"):
        VectorIndex(8, "milvus", index_type="DISKANN")
