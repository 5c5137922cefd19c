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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 items, exact and faiss-flat only")
    parser.add_argument("--items", type=int, default=None, help="default 1,000,000 (200,000 with --quick)")
    parser.add_argument("--backends", nargs="+", default=None, choices=list(BACKENDS), help="default: all")
    args = parser.parse_args()
    import faiss

    threads = 2
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    n = args.items or (200_000 if args.quick else 1_000_000)
    backends = args.backends or (["exact", "faiss-flat"] if args.quick else list(BACKENDS))
    dim, batch, singles, k = 384, 1000, 100, 10
    generator = torch.Generator().manual_seed(0)
    items, modalities = clustered(n, dim, generator)
    picked = torch.randint(0, n, (batch,), generator=generator)
    queries = torch.nn.functional.normalize(items[picked] + 0.05 * torch.randn(batch, dim, generator=generator), dim=1)
    ids = [str(i) for i in range(n)]
    audio = torch.tensor([m == "audio" for m in modalities])
    truth, filtered_truth = exact_top_k(items, queries, k), exact_top_k(items, queries, k, audio)

    figures: dict[str, dict[str, float]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="unibind-index-backends-"))
    try:
        for label in backends:
            name, options = BACKENDS[label]
            folder = scratch / label
            started = time.perf_counter()
            index = VectorIndex(dim, name, folder=folder, **options)
            index.add(ids, items, modalities)
            index.save(folder)
            build = time.perf_counter() - started
            index.search(queries[:1], k)  # a first search (an exact scoring copy, a Milvus collection load)
            index.search(queries[:1], k, ["audio"])
            found = index.search(queries, k).indices
            filtered = index.search(queries, k, ["audio"]).indices
            batched = median_seconds(lambda index=index: index.search(queries, k), 3) / batch
            single = median_seconds(lambda index=index: [index.search(q, k) for q in queries[:singles]], 1) / singles
            only_audio = median_seconds(lambda index=index: index.search(queries, k, ["audio"]), 3) / batch
            figures[label] = {
                "build_s": round(build, 2),
                "disk_mb": round(folder_bytes(folder) / 2**20, 1),
                "batched_qps": round(1 / batched, 1),
                "single_qps": round(1 / single, 1),
                "recall@10": recall(found, truth),
                "filtered_qps": round(1 / only_audio, 1),
                "filtered_recall@10": recall(filtered, filtered_truth),
            }
            print(f"{label:>12}: {figures[label]}", flush=True)
            del index
            shutil.rmtree(folder, ignore_errors=True)
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
        f"faiss-flat backend (IndexFlatIP per modality), {n:,} x {dim}, top-{k}, {batch} queries batched, "
        f"{threads} threads",
        items=n,
        backends=figures,
    )


if __name__ == "__main__":
    main()
