"""``unibind graph fit``: train the graph tower on a multimodal graph (nodes.jsonl + edges.tsv)."""

from __future__ import annotations

import argparse

from unibind.cli.registry import Commands, Handler


def add_parsers(commands: Commands) -> None:
    """Add ``graph fit``."""
    commands.group("graph", "GRAPH_COMMAND", help="multimodal graphs (nodes.jsonl + edges.tsv)")
    fit = commands.command(
        "graph fit", help="train the graph tower with neighbour sampling; link prediction, probe, time, peak memory"
    )
    fit.add_argument("--nodes", required=True, help="nodes.jsonl")
    fit.add_argument("--edges", required=True, help="edges.tsv")
    fit.add_argument("--out", default="runs/graph", help="output folder (results.json, model/)")
    fit.add_argument("--text", default="use", help="text tower: use (multilingual USE v3) or a transformers model")
    fit.add_argument("--epochs", type=int, default=1)
    fit.add_argument("--fanouts", type=int, nargs="+", default=[10, 5], help="neighbours sampled per hop")
    fit.add_argument("--batch-size", type=int, default=512, help="seed nodes per subgraph")
    fit.add_argument("--conv", default="sage", choices=["sage", "gat"])
    fit.add_argument("--depth", type=int, default=2)
    fit.add_argument("--width", type=int, default=128)
    fit.add_argument("--held-out", type=float, default=0.05, help="share of edges held out for link prediction")
    fit.add_argument("--no-progress", action="store_true")


def fit(args: argparse.Namespace) -> int:
    """Train, then print the results table, the stages' time and memory, and what was written."""
    from unibind.graphs.run import fit_graph_file, results_table

    results = fit_graph_file(
        args.nodes, args.edges, args.out, args.text, args.epochs, args.fanouts, args.batch_size,
        args.conv, args.depth, args.width, args.held_out, progress=not args.no_progress,
    )  # fmt: skip
    print(f"{results['nodes']} nodes, {results['edges']} edges, {results['held_out_edges']} held out")
    print(results_table(results))
    for name, stage in results["stages"].items():
        print(f"{name}: {stage['seconds']} s, peak RSS {stage['peak_rss_mb']} MB")
    print(f"wrote {args.out}/results.json and {args.out}/model/")
    return 0


HANDLERS: dict[str, Handler] = {"graph fit": fit}
