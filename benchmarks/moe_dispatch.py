"""MoE top-2 of 8 experts vs a dense aligner of the same width, forward + backward, on the CPU.

ratio = dense time / MoE time (goal 0.5: the MoE at most 2x slower). Top-2 routing does exactly twice the
dense FLOPs, so two further figures say how close the dispatch is to that floor: ``flop_floor_ratio`` times
the dense aligner on the batch repeated twice (same FLOPs as top-2, no routing), and
``compute_matched_ratio`` times an MoE whose experts are half as wide (the same active FLOPs as dense).
A naive per-expert masked loop (every expert over the whole batch) is timed too, for reference.

    .venv/bin/python benchmarks/moe_dispatch.py [--quick]
"""

from __future__ import annotations

import argparse

import torch
from _common import median_seconds, report

from unibind.alignment import DenseAligner, MoEAligner


def naive_masked_moe(aligner: MoEAligner, x: torch.Tensor) -> torch.Tensor:
    """The naive dispatch: each expert runs on the whole batch and a mask keeps its routed rows."""
    h = aligner.norm(x)
    _, gates, experts = aligner.route(h, "text")
    out = torch.zeros_like(h)
    for e, expert in enumerate(aligner.experts.experts):
        weight = (gates * (experts == e)).sum(-1, keepdim=True)
        out = out + weight * expert(h)
    return torch.nn.functional.normalize(x + out, dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    repeats = 7 if args.quick else 25
    torch.manual_seed(0)
    hidden = 2 * args.dim
    moe = MoEAligner(args.dim, num_experts=8, top_k=2, hidden_dim=hidden)
    dense = DenseAligner(args.dim, hidden_dim=hidden)
    matched = MoEAligner(args.dim, num_experts=8, top_k=2, hidden_dim=hidden // 2)
    x = torch.randn(args.batch, args.dim, requires_grad=True)
    x_twice = torch.randn(2 * args.batch, args.dim, requires_grad=True)

    def step(module):
        def run():
            module(x, "text").embedding.sum().backward()

        return run

    def naive():
        naive_masked_moe(moe, x).sum().backward()

    def floor():
        dense(x_twice, "text").embedding.sum().backward()

    for run in (step(dense), step(moe), step(matched), naive, floor):  # warm-up
        run()
    # interleave the measurements so that machine noise hits both sides alike
    dense_times, moe_times = [], []
    for _ in range(3):
        dense_times.append(median_seconds(step(dense), repeats))
        moe_times.append(median_seconds(step(moe), repeats))
    dense_s, moe_s = min(dense_times), min(moe_times)
    naive_s = median_seconds(naive, max(3, repeats // 3))
    floor_s = median_seconds(floor, repeats)
    matched_s = median_seconds(step(matched), repeats)
    print(f"batch {args.batch}, dim {args.dim}, expert hidden {hidden}, threads {torch.get_num_threads()}")
    print(f"dense aligner      {dense_s * 1e3:8.1f} ms")
    print(f"MoE top-2 of 8     {moe_s * 1e3:8.1f} ms  ({moe_s / dense_s:.2f}x dense)")
    print(f"naive masked loop  {naive_s * 1e3:8.1f} ms  ({naive_s / dense_s:.2f}x dense)")
    print(f"FLOP floor (dense on 2x batch) {floor_s * 1e3:8.1f} ms  ({floor_s / dense_s:.2f}x dense)")
    print(f"MoE, experts half as wide      {matched_s * 1e3:8.1f} ms  ({matched_s / dense_s:.2f}x dense)")
    report(
        "moe_dispatch",
        dense_s / moe_s,
        0.5,
        "DenseAligner of the same width (forward+backward), same process",
        dense_ms=round(dense_s * 1e3, 2),
        moe_ms=round(moe_s * 1e3, 2),
        naive_loop_ms=round(naive_s * 1e3, 2),
        flop_floor_ratio=round(dense_s / floor_s, 3),
        compute_matched_ratio=round(dense_s / matched_s, 3),
        batch=args.batch,
        dim=args.dim,
    )


if __name__ == "__main__":
    main()
