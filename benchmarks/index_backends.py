"""Every index backend on the same vectors: build time, bytes on disk, throughput, recall@10, filtered search.

Vectors: ``N x 384`` unit vectors around 2,000 random centres (embeddings cluster by topic; on uniform random
vectors in 384 dimensions no approximate index has neighbours worth finding), in three modalities (50% image,
30% text, 20% audio). Queries: 1,000 stored vectors moved by noise. For each backend, in one process with
2 threads:

- ``build_s``: adding the vectors and saving the index (FAISS indexes are built, and IVF trained, then; a
  Milvus collection is inserted into, indexed and flushed);
- ``disk_mb``: the saved folder (with a Milvus Lite database inside it);
- ``batched_qps`` (1,000 queries in one call) and ``single_qps`` (100 queries one by one), top-10;
- ``recall@10`` against an exact float32 top-10, and ``filtered_recall@10`` / ``filtered_qps`` for a search
  limited to the audio items, against the exact top-10 among them.

The last line's ratio is exact over FAISS flat, batched (goal 1.0: unibind's exact search is not slower than
FAISS's); every backend's figures come with it.

    .venv/bin/python benchmarks/index_backends.py            # 1,000,000 x 384
    .venv/bin/python benchmarks/index_backends.py --items 200000
    .venv/bin/python benchmarks/index_backends.py --quick    # 200,000 x 384, exact and faiss-flat only (the ratio)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from _common import median_seconds, report

from unibind.retrieval import VectorIndex

BACKENDS = {
    "exact": ("exact", {}),
    "faiss-flat": ("faiss-flat", {}),
    "faiss-ivf": ("faiss-ivf", {"nlist": 1024, "nprobe": 16}),
    "faiss-hnsw": ("faiss-hnsw", {"hnsw_m": 32, "ef_search": 128}),
    "milvus-flat": ("milvus", {"index_type": "FLAT"}),
    "milvus-hnsw": ("milvus", {"index_type": "HNSW", "hnsw_m": 16, "ef_search": 128}),
    "milvus-ivf": ("milvus", {"index_type": "IVF_FLAT", "nlist": 1024, "nprobe": 16}),
}
MODALITIES = ("image", "text", "audio")
THREADS = 2
DIM, BATCH, SINGLES, K = 384, 1000, 100, 10


def clustered(n: int, dim: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
    centres = torch.randn(2000, dim, generator=generator)
    vectors = centres[torch.randint(0, len(centres), (n,), generator=generator)]
    vectors = torch.nn.functional.normalize(vectors + 0.7 * torch.randn(n, dim, generator=generator), dim=1)
    draw = torch.rand(n, generator=generator)
    modalities = [MODALITIES[0] if u < 0.5 else MODALITIES[1] if u < 0.8 else MODALITIES[2] for u in draw.tolist()]
    return vectors, modalities


def exact_top_k(items: torch.Tensor, queries: torch.Tensor, k: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    rows = []
    for start in range(0, len(queries), 100):
        scores = queries[start : start + 100] @ items.T
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        rows.append(scores.topk(k, dim=1).indices)
    return torch.cat(rows)


def recall(found: torch.Tensor, truth: torch.Tensor) -> float:
    hits = sum(len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist(), strict=True))
    return round(hits / truth.numel(), 4)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 items, exact and faiss-flat only")
    parser.add_argument("--items", type=int, default=None, help="default 1,000,000 (200,000 with --quick)")
    parser.add_argument("--backends", nargs="+", default=None, choices=list(BACKENDS), help="default: all")
    return parser.parse_args()


@dataclass
class Workload:
    """The vectors ``items [n, DIM]`` with their ``ids`` and ``modalities``, ``queries [BATCH, DIM]`` (stored
    vectors moved by noise) and the exact top-K ``[BATCH, K]`` of each query: over all items (``truth``) and over
    the audio ones only."""

    items: torch.Tensor
    ids: list[str]
    modalities: list[str]
    queries: torch.Tensor
    truth: torch.Tensor
    filtered_truth: torch.Tensor


def make_workload(n: int) -> Workload:
    """:class:`Workload` of ``n`` clustered vectors, seed 0."""
    generator = torch.Generator().manual_seed(0)
    items, modalities = clustered(n, DIM, generator)
    picked = torch.randint(0, n, (BATCH,), generator=generator)
    queries = torch.nn.functional.normalize(items[picked] + 0.05 * torch.randn(BATCH, DIM, generator=generator), dim=1)
    audio = torch.tensor([m == "audio" for m in modalities])
    truth, filtered_truth = exact_top_k(items, queries, K), exact_top_k(items, queries, K, audio)
    return Workload(items, [str(i) for i in range(n)], modalities, queries, truth, filtered_truth)


def measure_backend(label: str, work: Workload, folder: Path) -> dict[str, float]:
    """Build, save and search backend ``label`` in ``folder``: its build seconds, size on disk, throughput and
    recall@10, unfiltered and limited to the audio items."""
    name, options = BACKENDS[label]
    queries = work.queries
    started = time.perf_counter()
    index = VectorIndex(DIM, name, folder=folder, **options)
    index.add(work.ids, work.items, work.modalities)
    index.save(folder)
    build = time.perf_counter() - started
    index.search(queries[:1], K)  # a first search (an exact scoring copy, a Milvus collection load)
    index.search(queries[:1], K, ["audio"])
    found = index.search(queries, K).indices
    filtered = index.search(queries, K, ["audio"]).indices
    batched = median_seconds(lambda: index.search(queries, K), 3) / BATCH
    single = median_seconds(lambda: [index.search(q, K) for q in queries[:SINGLES]], 1) / SINGLES
    only_audio = median_seconds(lambda: index.search(queries, K, ["audio"]), 3) / BATCH
    return {
        "build_s": round(build, 2),
        "disk_mb": round(folder_bytes(folder) / 2**20, 1),
        "batched_qps": round(1 / batched, 1),
        "single_qps": round(1 / single, 1),
        "recall@10": recall(found, work.truth),
        "filtered_qps": round(1 / only_audio, 1),
        "filtered_recall@10": recall(filtered, work.filtered_truth),
    }


def main() -> None:
    args = parse_args()
    import faiss

    torch.set_num_threads(THREADS)
    faiss.omp_set_num_threads(THREADS)
    n = args.items or (200_000 if args.quick else 1_000_000)
    backends = args.backends or (["exact", "faiss-flat"] if args.quick else list(BACKENDS))
    work = make_workload(n)
    figures: dict[str, dict[str, float]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="unibind-index-backends-"))
    try:
        for label in backends:
            figures[label] = measure_backend(label, work, scratch / label)
            print(f"{label:>12}: {figures[label]}", flush=True)
            shutil.rmtree(scratch / label, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ratio = (
        figures["exact"]["batched_qps"] / figures["faiss-flat"]["batched_qps"]
        if {"exact", "faiss-flat"} <= set(figures)
        else float("nan")
    )
    report(
        "index_backends",
        ratio,
        1.0,
        f"faiss-flat backend (IndexFlatIP per modality), {n:,} x {DIM}, top-{K}, {BATCH} queries batched, "
        f"{THREADS} threads",
        items=n,
        backends=figures,
    )


if __name__ == "__main__":
    main()
