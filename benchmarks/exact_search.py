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

import numpy as np
import torch
from _common import median_seconds, report

from unibind.retrieval import VectorIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k items, fewer repeats")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--scoring", default="auto", choices=["auto", "int8", "bfloat16", "float32"])
    args = parser.parse_args()
    import faiss

    threads = 2
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    n = args.items or (200_000 if args.quick else 1_000_000)
    dim, batch, singles, k = 384, 1000, 100, 10
    repeats = 5 if args.quick else 3
    generator = torch.Generator().manual_seed(0)
    items = torch.nn.functional.normalize(torch.randn(n, dim, generator=generator), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(batch, dim, generator=generator), dim=1)
    ids = [str(i) for i in range(n)]

    flat = faiss.IndexFlatIP(dim)
    flat.add(items.numpy())
    indexes, build_seconds = {}, {}
    for dtype in ("float32", "float16"):
        index = VectorIndex(dim, dtype=dtype, scoring=args.scoring)
        index.add(ids, items, "text")
        indexes[dtype] = index

    q_np = queries.numpy()
    _, faiss_top = flat.search(q_np, k)
    for dtype, index in indexes.items():
        started = time.perf_counter()
        index.search(queries[:1], k)  # the first search builds the scoring's copy of the vectors, if any
        build_seconds[dtype] = round(time.perf_counter() - started, 2)
        ours = index.search(queries, k).indices.numpy()
        agreement = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, faiss_top, strict=True)]))
        needed = 1.0 if dtype == "float32" else 0.99
        if agreement < needed:
            raise SystemExit(f"{dtype} top-{k} agrees with FAISS on only {agreement:.4f} of the ids")

    # interleaved: every repeat times each contender once, so drift on a noisy machine hits all of them
    contenders = {
        "faiss_batched": (lambda: flat.search(q_np, k), batch),
        "faiss_single": (lambda: [flat.search(q_np[i : i + 1], k) for i in range(singles)], singles),
    }
    for dtype, index in indexes.items():
        contenders[f"{dtype}_batched"] = (lambda index=index: index.search(queries, k), batch)
        contenders[f"{dtype}_single"] = (
            lambda index=index: [index.search(queries[i], k) for i in range(singles)],
            singles,
        )
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (run, count) in contenders.items():
            samples[name].append(median_seconds(run, 1) / count)
    timings = {name: statistics.median(values) for name, values in samples.items()}
    qps = {name: round(1 / seconds, 1) for name, seconds in timings.items()}
    for name, value in qps.items():
        print(f"{name:>16}: {value:10.1f} queries/s")
    report(
        "exact_search",
        qps["float32_batched"] / qps["faiss_batched"],
        1.0,
        f"faiss.IndexFlatIP, {n:,} x {dim} float32, top-{k}, {batch} queries batched, {threads} threads",
        float16_ratio=round(qps["float16_batched"] / qps["faiss_batched"], 3),
        float16_goal=1.7,
        single_ratio=round(qps["float32_single"] / qps["faiss_single"], 3),
        float16_single_ratio=round(qps["float16_single"] / qps["faiss_single"], 3),
        queries_per_second=qps,
        items=n,
        scoring=indexes["float32"].backend.scoring,
        first_search_seconds=build_seconds,
        bytes_per_item={dtype: round(index.nbytes / n) for dtype, index in indexes.items()} | {"faiss": 4 * dim},
    )


if __name__ == "__main__":
    main()
