"""Exact top-10 inner-product search: unibind's VectorIndex (float32 and float16 storage) vs faiss.IndexFlatIP.

Same unit-norm random vectors, same queries, same process, 2 threads each. Throughput in queries per
second for a batch of queries and for single queries. The last line's ratio is unibind float32 batched
over FAISS batched (goal 1.0); ``float16_ratio`` is unibind with float16 storage over FAISS (goal 1.7).
Results are checked: every unibind top-10 list must equal FAISS's (float32) or match its ids at >= 99%
(float16, whose scores are rounded). ``--scoring`` picks the index's candidate scoring (default ``auto``:
int8 where the CPU has int8 dot products); the copy it builds at the first search is timed and counted
in ``bytes_per_item`` (FAISS: 4 bytes per value).

    .venv/bin/python benchmarks/exact_search.py            # 1,000,000 x 384
    .venv/bin/python benchmarks/exact_search.py --quick    # 200,000 x 384
    .venv/bin/python benchmarks/exact_search.py --quick --scoring bfloat16
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch
from _common import median_seconds, report

from unibind.retrieval import VectorIndex

THREADS = 2
DIM, BATCH, SINGLES, K = 384, 1000, 100, 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k items, fewer repeats")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--scoring", default="auto", choices=["auto", "int8", "bfloat16", "float32"])
    return parser.parse_args()


def unit_vectors(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``items [n, DIM]`` and ``queries [BATCH, DIM]``: unit-norm random rows, seed 0."""
    generator = torch.Generator().manual_seed(0)
    items = torch.nn.functional.normalize(torch.randn(n, DIM, generator=generator), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(BATCH, DIM, generator=generator), dim=1)
    return items, queries


def build_indexes(items: torch.Tensor, scoring: str) -> dict[str, VectorIndex]:
    """A :class:`VectorIndex` per storage dtype (float32, float16) holding ``items [n, DIM]``."""
    ids = [str(i) for i in range(len(items))]
    indexes = {}
    for dtype in ("float32", "float16"):
        index = VectorIndex(DIM, dtype=dtype, scoring=scoring)
        index.add(ids, items, "text")
        indexes[dtype] = index
    return indexes


def check_against_faiss(indexes: dict[str, VectorIndex], flat: Any, queries: torch.Tensor) -> dict[str, float]:
    """Seconds of each index's first search (which builds its scoring copy), after checking that its top-K ids
    agree with FAISS's (all of them for float32, >= 99% for float16); exits if they do not."""
    _, faiss_top = flat.search(queries.numpy(), K)
    build_seconds = {}
    for dtype, index in indexes.items():
        started = time.perf_counter()
        index.search(queries[:1], K)  # the first search builds the scoring's copy of the vectors, if any
        build_seconds[dtype] = round(time.perf_counter() - started, 2)
        ours = index.search(queries, K).indices.numpy()
        agreement = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ours, faiss_top, strict=True)]))
        needed = 1.0 if dtype == "float32" else 0.99
        if agreement < needed:
            raise SystemExit(f"{dtype} top-{K} agrees with FAISS on only {agreement:.4f} of the ids")
    return build_seconds


def queries_per_second(
    indexes: dict[str, VectorIndex], flat: Any, queries: torch.Tensor, repeats: int
) -> dict[str, float]:
    """Queries per second of FAISS and each index, batched and single, over interleaved repeats."""
    q_np = queries.numpy()
    # interleaved: every repeat times each contender once, so drift on a noisy machine hits all of them
    contenders = {
        "faiss_batched": (lambda: flat.search(q_np, K), BATCH),
        "faiss_single": (lambda: [flat.search(q_np[i : i + 1], K) for i in range(SINGLES)], SINGLES),
    }
    for dtype, index in indexes.items():
        contenders[f"{dtype}_batched"] = (lambda index=index: index.search(queries, K), BATCH)
        contenders[f"{dtype}_single"] = (
            lambda index=index: [index.search(queries[i], K) for i in range(SINGLES)],
            SINGLES,
        )
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (run, count) in contenders.items():
            samples[name].append(median_seconds(run, 1) / count)
    timings = {name: statistics.median(values) for name, values in samples.items()}
    return {name: round(1 / seconds, 1) for name, seconds in timings.items()}


def main() -> None:
    args = parse_args()
    import faiss

    torch.set_num_threads(THREADS)
    faiss.omp_set_num_threads(THREADS)
    n = args.items or (200_000 if args.quick else 1_000_000)
    repeats = 5 if args.quick else 3
    items, queries = unit_vectors(n)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(items.numpy())
    indexes = build_indexes(items, args.scoring)
    build_seconds = check_against_faiss(indexes, flat, queries)
    qps = queries_per_second(indexes, flat, queries, repeats)
    for name, value in qps.items():
        print(f"{name:>16}: {value:10.1f} queries/s")
    report(
        "exact_search",
        qps["float32_batched"] / qps["faiss_batched"],
        1.0,
        f"faiss.IndexFlatIP, {n:,} x {DIM} float32, top-{K}, {BATCH} queries batched, {THREADS} threads",
        float16_ratio=round(qps["float16_batched"] / qps["faiss_batched"], 3),
        float16_goal=1.7,
        single_ratio=round(qps["float32_single"] / qps["faiss_single"], 3),
        float16_single_ratio=round(qps["float16_single"] / qps["faiss_single"], 3),
        queries_per_second=qps,
        items=n,
        scoring=indexes["float32"].backend.scoring,
        first_search_seconds=build_seconds,
        bytes_per_item={dtype: round(index.nbytes / n) for dtype, index in indexes.items()} | {"faiss": 4 * DIM},
    )


if __name__ == "__main__":
    main()
