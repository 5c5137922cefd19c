"""The ``unibind eval`` handlers: run a benchmark, print its table, write its result manifest.

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


def compare(args: argparse.Namespace) -> int:
    """Print two result manifests side by side."""
    from unibind.evaluation.records import compare_records, read_record

    first, second = (read_record(path) for path in args.records)
    print(compare_records(first, second, names=(Path(args.records[0]).stem, Path(args.records[1]).stem)))
    return 0


def _write(args: argparse.Namespace, **record: Any) -> None:
    """Write the result manifest of the run in ``args`` and say where."""
    from unibind.evaluation.records import command_line, default_record_path, write_record

    path = Path(args.out) if args.out else default_record_path(args.benchmark)
    write_record(path, benchmark=args.benchmark, command=command_line(args.argv), **record)
    print(f"result manifest: {path}")


def humanml3d(args: argparse.Namespace) -> int:
    """TMR's retrieval protocols on HumanML3D or KIT-ML."""
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
        model=model_record(args.model),
        data=data_record(args.data, dataset.files(), version=f"{args.dataset_format} {args.split}"),
        metrics=TMR_METRICS,
        rows=results["protocols"],
        table=table,
        details={"items": results["items"], "skipped": results["skipped"], "reasons": results["skipped_reasons"]},
    )
    return 0


def beir(args: argparse.Namespace) -> int:
    """First stages and E2Rank reranking on a BEIR dataset."""
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


def mmeb(args: argparse.Namespace) -> int:
    """MMEB v1 Precision@1."""
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
        model=model_record(args.model),
        data=data_record(results["data_dir"], results["files"], version=f"MMEB v1 ({args.data})"),
        metrics=[PRECISION_AT_1],
        rows=results["rows"],
        table=table,
        details={"datasets": results["details"], "image_weight": args.image_weight},
    )
    return 0


def xtd(args: argparse.Namespace) -> int:
    """XTD10 text <-> image recall per language."""
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
        model=model_record(args.model),
        data=data_record(args.data, data.files, version="XTD layout"),
        metrics=RECALL_METRICS,
        rows=results["rows"],
        table=table,
        details={"images": results["images"], "languages": results["languages"], "skipped": data.skipped.count},
    )
    return 0


def zeroshot(args: argparse.Namespace) -> int:
    """Zero-shot classification of a manifest's items."""
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
        model=model_record(args.model),
        data=data_record(Path(args.manifest).parent, results["files"], version=Path(args.manifest).name),
        metrics=METRICS,
        rows=results["rows"],
        table=table,
        details={**results["details"], "template": args.template, "label_field": args.label_field},
    )
    return 0


def audio_captions(args: argparse.Namespace) -> int:
    """Clotho or AudioCaps text <-> audio retrieval."""
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
        model=model_record(args.model),
        data=data_record(args.data, data.files, version=f"{name} {args.split}"),
        metrics=METRICS,
        rows=results["rows"],
        table=table,
        details={**details, "batch_size": args.batch_size},
    )
    return 0
