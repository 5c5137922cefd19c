"""Zero-shot classification of any modality from a manifest: labels through a prompt, nearest label wins.

The manifest is unibind's (``unibind.datasets.manifest``: one row per item with an ``id``, a file or text
per modality) plus a label field per row (``category`` in the emoji corpus, ``family`` in the sounds
corpus). Each distinct label is written into ``template`` ("an emoji of {}", "the sound of {}"), embedded
as text, and every item goes to its most similar label. Reported: accuracy and macro-F1 (over the classes
present among the targets or the predictions, as scikit-learn's ``f1_score(average="macro")``), in percent,
plus per-class precision / recall / F1 and the confusion matrix in the details.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from unibind.datasets.manifest import OnError, read_manifest
from unibind.datasets.text_files import ManifestError, OnBad, read_jsonl
from unibind.embedder import UnifiedEmbedder
from unibind.evaluation.embedding import embed_raw
from unibind.evaluation.records import MetricDefinition
from unibind.evaluation.zero_shot import label_prompts, zero_shot_predict
from unibind.metrics.classification import accuracy_and_macro_f1
from unibind.modalities import Modality, default_spec
from unibind.modalities.settings import spec_from_settings

METRICS = (
    MetricDefinition("accuracy", "percent of items whose most similar label prompt is their label", "CLIP zero-shot"),
    MetricDefinition(
        "macro_f1",
        "unweighted mean over classes (present in targets or predictions) of per-class F1, in percent",
        "scikit-learn f1_score(average='macro')",
    ),
)


def read_labels(manifest: Path, label_field: str, on_bad: OnBad | None = None) -> dict[str, str]:
    """``{item id: label}``; a row without the field, or with a non-string one, raises naming the row. Lines
    that are not JSON objects raise too, or go to ``on_bad`` (a reader that skips them has counted them)."""
    labels = {}
    for number, row in read_jsonl(manifest, on_bad=on_bad):
        value = row.get(label_field)
        if not isinstance(value, str) or not value.strip():
            raise ManifestError(f"{manifest}, row {number}: field {label_field!r} must be a non-empty string")
        labels[str(row.get("id"))] = value
    return labels


def per_class(predicted: torch.Tensor, target: torch.Tensor, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 (percent) and support of each class."""
    out = {}
    for c, name in enumerate(names):
        tp = int(((predicted == c) & (target == c)).sum())
        predicted_c, actual_c = int((predicted == c).sum()), int((target == c).sum())
        out[name] = {
            "precision": 100.0 * tp / predicted_c if predicted_c else 0.0,
            "recall": 100.0 * tp / actual_c if actual_c else 0.0,
            "f1": 200.0 * tp / (predicted_c + actual_c) if predicted_c + actual_c else 0.0,
            "support": actual_c,
        }
    return out


def zero_shot_manifest(
    model: UnifiedEmbedder,
    manifest: str | Path,
    modality: str,
    label_field: str,
    template: str,
    batch_size: int = 32,
    on_error: OnError = "raise",
    progress: bool = True,
    classes_from: str | Path | None = None,
    spec_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Classify every item of ``manifest`` that has ``modality``; returns rows, details and the files read.

    The classes are the distinct labels of ``classes_from`` (a manifest, e.g. the whole corpus, so that a
    class absent from the evaluated split can still be predicted), by default of ``manifest`` itself.
    ``spec_settings`` override the modality's default input settings (e.g. ``{"min_seconds": 0.05}``).
    """
    manifest = Path(manifest)
    if modality == Modality.GRAPH:
        raise ValueError("graph nodes need their graph: use 'unibind graph fit' (it reports zero-shot accuracy)")
    items, skipped = read_manifest(manifest, [modality], on_error)
    counted = (lambda error: None) if on_error == "skip" else None  # read_manifest has counted bad lines
    labels = read_labels(manifest, label_field, counted)
    label_source = read_labels(Path(classes_from), label_field) if classes_from else labels
    classes = sorted(set(label_source.values()) | {labels[item.id] for item in items})
    spec = spec_from_settings(modality, spec_settings) if spec_settings else default_spec(modality)
    raws = [item.fields[modality][0] if modality == Modality.TEXT else item.fields[modality] for item in items]
    names = [f"{manifest}, row {item.row}" for item in items]
    vectors, kept = embed_raw(
        model, modality, raws, spec, names, batch_size, progress, skipped if on_error == "skip" else None
    )
    items = [items[i] for i in kept]
    prompts = label_prompts(classes, template)
    label_vectors = embed_raw(model, "text", prompts)[0]
    predicted = zero_shot_predict(vectors, label_vectors)
    target = torch.tensor([classes.index(labels[item.id]) for item in items])
    scores = accuracy_and_macro_f1(predicted, target, len(classes))
    confusion = torch.zeros(len(classes), len(classes), dtype=torch.long)
    confusion.index_put_((target, predicted), torch.ones_like(target), accumulate=True)
    files = [manifest, *([Path(classes_from)] if classes_from else [])]
    files += [it.fields[modality] for it in items if modality != Modality.TEXT]
    return {
        "rows": {f"{modality} zero-shot": {k: 100.0 * v for k, v in scores.items()}},
        "details": {
            "items": len(items),
            "skipped": skipped.count,
            "skip_reasons": skipped.reasons,
            "spec": repr(spec),
            "classes": classes,
            "prompts": prompts,
            "per_class": per_class(predicted, target, classes),
            "confusion": confusion.tolist(),
        },
        "files": files,
    }


def results_table(rows: dict[str, dict[str, float]], details: dict[str, Any]) -> str:
    lines = [
        "| task | items | classes | accuracy | macro-F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in rows.items():
        lines.append(
            f"| {name} | {details['items']} | {len(details['classes'])} | {values['accuracy']:.1f} | "
            f"{values['macro_f1']:.1f} |"
        )
    return "\n".join(lines)
