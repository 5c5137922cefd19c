"""``export_onnx``: one ONNX graph per modality of a saved model, validated against PyTorch, optionally int8.

Each graph is encoder + projection head + aligner (the L2-normalised aligned embedding ``[B, D]``), exported
with ``torch.onnx.export(dynamo=True)`` (the ``torch.export`` exporter; it needs ``onnxscript``) with a dynamic
batch axis and dynamic token / frame / window axes. What turns raw inputs into tensors (tokeniser, image
resize and standardisation, the log-mel front-end, input checks) stays in Python: each encoder splits its
``forward`` into ``export_preprocessor()`` and a tensor-only ``export_forward`` (see
:mod:`unibind.encoders.preprocessing`). A mixture-of-experts aligner is exported through its masked dispatch
(every expert over every row, weighted by the top-k gates), which gives the same output as the grouped one
without reading slot counts on the host.

Every graph is run by onnxruntime on the validation inputs (given ``samples``, else synthetic ones: fixed
sentences, rendered shapes, tones, smooth random motions) at two batch sizes (all samples, then the first alone,
so the batch and sequence axes change) and compared with ``UnifiedEmbedder.embed_batch``. With ``int8``, the
graph is also quantised dynamically (``onnxruntime.quantization.quantize_dynamic``: int8 per-channel weights of
the encoder's MatMul / Gemm, activations quantised at run time) after onnxruntime's pre-processing, and
validated too. The graph's output is named ``aligned_embedding`` (``[B, D]``; ``[clips, D]`` for audio).

What int8 leaves float, and why:

- convolutions: dynamic quantisation turns them into ``ConvInteger``, which onnxruntime runs slower than float
  convolutions and which lost most of the signal of a depthwise CNN (EfficientNet-Lite0: cosine 0.57 to
  PyTorch) when tried; static (calibrated) quantisation would be the way to int8 CNNs;
- the projection head and the aligner: a few small layers (no time to gain), and a mixture of experts' top-k
  routing turns small rounding errors into a different expert mix.

The steps have modules of their own: :mod:`~unibind.export.tower` (what a graph is exported from),
:mod:`~unibind.export.samples` (validation inputs), :mod:`~unibind.export.graph` (``torch.onnx.export``),
:mod:`~unibind.export.verify` (the comparison with PyTorch), :mod:`~unibind.export.quantize` (int8),
:mod:`~unibind.export.manifest` (``unibind_onnx.json``) and :mod:`~unibind.export.report` (what is returned).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from unibind.atomic import read_directory, write_directory
from unibind.embedder import CONFIG_NAME, UnifiedEmbedder, read_model_config
from unibind.encoders.base import ExportUnsupportedError
from unibind.export.graph import describe_inputs, export_with_fallback
from unibind.export.manifest import manifest_entry, write_manifest
from unibind.export.report import ExportReport, ModalityExport
from unibind.export.runtime import MANIFEST_NAME
from unibind.export.samples import validation_samples
from unibind.export.tower import AlignedTower
from unibind.export.verify import validate_graphs
from unibind.modalities import Modality, ModalitySpec, default_spec

DEFAULT_OPSET = 18
#: a graph whose fp32 output differs from PyTorch's by more than this is reported as a mismatch
DEFAULT_TOLERANCE = 1e-3
ASSETS_DIR = "assets"
#: what an export writes at the top of its folder (others' files there are left alone)
OWNED = (
    MANIFEST_NAME,
    ASSETS_DIR,
    *(f"{modality}.onnx" for modality in Modality),
    *(f"{modality}.int8.onnx" for modality in Modality),
)


def _first_line(error: BaseException) -> str:
    """``Type: first line`` of the innermost cause of ``error`` (the exporter wraps the error that says why)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:500]


def export_modality(
    model_dir: Path,
    modality: str,
    folder: Path,
    *,
    int8: bool,
    opset: int,
    samples: Sequence[Any] | None,
    spec: ModalitySpec | None,
    max_samples: int,
    tolerance: float,
) -> tuple[ModalityExport, dict[str, Any] | None]:
    """Export, quantise and validate one modality into ``folder``; returns its report and its manifest entry
    (None when skipped)."""
    started = time.perf_counter()
    try:
        model = UnifiedEmbedder.from_pretrained(model_dir, [modality])
    except Exception as error:  # a tower whose package is missing, a foreign class ...
        return ModalityExport(modality, "skipped", f"cannot rebuild the encoder: {_first_line(error)}"), None
    encoder = model.encoders[modality]
    try:
        preprocessor = encoder.export_preprocessor()
    except ExportUnsupportedError as error:
        return ModalityExport(modality, "skipped", str(error)), None
    spec = spec or preprocessor.default_spec() or default_spec(modality)
    loaded, validated_on = validation_samples(modality, spec, samples, max_samples)
    batches = [spec.collate(loaded), spec.collate(loaded[:1])]
    example = preprocessor(batches[0])
    path = folder / f"{modality}.onnx"
    try:
        axes, fixed = export_with_fallback(AlignedTower(model, modality).eval(), preprocessor, example, path, opset)
    except Exception as error:
        path.unlink(missing_ok=True)
        return ModalityExport(modality, "skipped", f"torch.onnx.export failed: {_first_line(error)}"), None
    try:
        part = validate_graphs(model, modality, preprocessor, path, batches, int8=int8, tolerance=tolerance)
    except Exception as error:  # onnxruntime cannot load or run the graph
        for leftover in (path, folder / f"{modality}.int8.onnx"):
            leftover.unlink(missing_ok=True)
        return ModalityExport(modality, "skipped", f"the exported graph does not run: {_first_line(error)}"), None
    part.validated_on, part.batch_sizes = validated_on, [len(loaded), 1]
    part.inputs, part.fixed_axes = describe_inputs(example, axes), fixed
    assets = Path(ASSETS_DIR) / modality
    preprocessor.save(folder / assets)
    part.seconds = round(time.perf_counter() - started, 2)
    return part, manifest_entry(part, preprocessor, assets, type(encoder).__name__, model.embed_dim)


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    modalities: Sequence[str] | None = None,
    int8: bool = False,
    opset: int = DEFAULT_OPSET,
    samples: Mapping[str, Sequence[Any]] | None = None,
    specs: Mapping[str, ModalitySpec] | None = None,
    max_samples: int = 8,
    tolerance: float = DEFAULT_TOLERANCE,
    log: Callable[[str], object] | None = None,
) -> ExportReport:
    """Export each modality of the model saved in ``model_dir`` (default all) as ``<modality>.onnx`` in ``out_dir``.

    Args:
        model_dir: a :meth:`UnifiedEmbedder.save_pretrained <unibind.embedder.UnifiedEmbedder.save_pretrained>`
            folder.
        out_dir: the export folder: graphs, ``unibind_onnx.json`` (inputs of each graph, preprocessing,
            ``embed_dim``, ``matryoshka_dims``, validation figures, skipped modalities and why) and ``assets/``
            (tokenizers, feature extractors). Written as a whole (:func:`unibind.atomic.write_directory`).
        modalities: the modalities to export (default: all of the model's).
        int8: also write ``<modality>.int8.onnx`` (dynamic quantisation) and validate it.
        opset: ONNX opset of the graphs.
        samples: modality -> raw inputs to validate on (paths, strings, arrays ...; at most ``max_samples``
            each); synthetic ones for the others.
        specs: modality -> the spec that loads and collates ``samples`` (default: one that fits the tower).
        tolerance: the largest ``|onnx - torch|`` (fp32) a graph may show before it is reported as a mismatch.
        log: called with a line per modality as the export goes.

    A modality whose tower cannot be exported (a numpy or CTranslate2 tower, a graph encoder, an export error)
    is reported as skipped with the reason; the others are exported.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    config = read_directory(model_dir, lambda folder: read_model_config(folder / CONFIG_NAME))
    names = _requested(model_dir, config, modalities)
    parts: dict[str, ModalityExport] = {}
    export = partial(export_modality, model_dir, int8=int8, opset=opset, max_samples=max_samples, tolerance=tolerance)

    def write(folder: Path) -> None:
        graphs: dict[str, dict[str, Any]] = {}
        for modality in names:
            if log is not None:
                log(f"exporting {modality} ...")
            part, entry = export(
                modality, folder, samples=(samples or {}).get(modality), spec=(specs or {}).get(modality)
            )
            parts[modality] = part
            if entry is not None:
                graphs[modality] = entry
            if log is not None:
                log(f"{modality}: {part.status}" + (f" ({part.reason})" if part.reason else ""))
        write_manifest(folder, config, graphs, parts, opset=opset, int8=int8)

    write_directory(out_dir, write, owned=OWNED)
    dims = config.get("matryoshka_dims")
    return ExportReport(out_dir, config["embed_dim"], list(dims) if dims else None, parts)


def _requested(model_dir: Path, config: dict[str, Any], modalities: Sequence[str] | None) -> list[str]:
    """The modalities to export (default all of the model's); a KeyError names those the model lacks."""
    names = list(config["encoders"]) if modalities is None else [str(Modality(m)) for m in modalities]
    unknown = [m for m in names if m not in config["encoders"]]
    if unknown:
        raise KeyError(f"{model_dir} has no encoder for {unknown}; it has {list(config['encoders'])}")
    return names
