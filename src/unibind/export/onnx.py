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
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import logging
import random
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from unibind.alignment import Aligner, MoEAligner
from unibind.atomic import read_directory, write_directory
from unibind.embedder import CONFIG_NAME, UnifiedEmbedder, read_model_config
from unibind.encoders.base import ExportUnsupportedError
from unibind.encoders.preprocessing import Preprocessor
from unibind.export.runtime import FORMAT_VERSION, MANIFEST_NAME, OUTPUT_NAME, open_session, session_feeds
from unibind.modalities import Modality, ModalitySpec, default_spec

DEFAULT_OPSET = 18
#: int8 quantises these ops' weights (per output channel); the rest stays float
INT8_OP_TYPES = ("MatMul", "Gemm")
#: parts of each graph int8 leaves float: a few small layers, where rounding would move the MoE router's top-k
FLOAT_SCOPES = ("head", "aligner")
#: how the int8 graphs were made, as the export's JSON file records it
INT8_RECORD = {
    "method": "onnxruntime.quantization.quantize_dynamic after quant_pre_process",
    "weights": "int8, per output channel; activations uint8, per tensor at run time",
    "op_types": list(INT8_OP_TYPES),
    "float": list(FLOAT_SCOPES),
}
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
SENTENCES = (
    "a dog",
    "a person walks forward, turns around and sits down on a chair",
    "red circle",
    "the cat sleeps on the warm windowsill while rain taps against the glass outside",
    "a man kicks with his left leg",
    "smiling face with heart-shaped eyes",
)
Status = Literal["exported", "mismatch", "skipped"]


@dataclass
class ModalityExport:
    """What happened to one modality: exported (and how close to PyTorch), a mismatch, or skipped and why.

    ``max_abs_diff``: largest ``|onnx - torch|`` over the validation embeddings (fp32 graph); the ``int8_*``
    fields compare the quantised graph with PyTorch (largest difference, least and mean cosine per row).
    """

    modality: str
    status: Status
    reason: str | None = None
    file: str | None = None
    int8_file: str | None = None
    size_bytes: int | None = None
    int8_size_bytes: int | None = None
    max_abs_diff: float | None = None
    int8_max_abs_diff: float | None = None
    int8_min_cosine: float | None = None
    int8_mean_cosine: float | None = None
    validated_on: str | None = None
    batch_sizes: list[int] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    fixed_axes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ExportReport:
    """The export of a model: ``modalities`` maps each modality to its :class:`ModalityExport`."""

    out_dir: Path
    embed_dim: int
    matryoshka_dims: list[int] | None
    modalities: dict[str, ModalityExport]

    @property
    def exported(self) -> list[str]:
        return [m for m, part in self.modalities.items() if part.status == "exported"]

    @property
    def skipped(self) -> dict[str, str]:
        return {m: part.reason or "" for m, part in self.modalities.items() if part.status == "skipped"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "embed_dim": self.embed_dim,
            "matryoshka_dims": self.matryoshka_dims,
            "modalities": {m: asdict(part) for m, part in self.modalities.items()},
        }


class AlignedTower(nn.Module):
    """``encoder.export_forward -> head -> aligner`` of one modality: ``*tensors -> Tensor[B, D]``, what each
    graph is exported from. A mixture-of-experts aligner runs its masked dispatch (a shallow copy, so the
    model's own setting is untouched; the parameters are shared)."""

    def __init__(self, model: UnifiedEmbedder, modality: str) -> None:
        super().__init__()
        self.encoder = model.encoders[modality]
        self.head = model.heads[modality]
        self.aligner = graph_aligner(model.aligner)
        self.modality = modality

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.aligner(self.head(self.encoder.export_forward(*tensors)), self.modality).embedding


def graph_aligner(aligner: Aligner) -> Aligner:
    """``aligner`` as a graph can hold it: an MoE aligner switched to its masked dispatch (no host sync)."""
    if isinstance(aligner, MoEAligner) and aligner.dispatch != "masked":
        aligner = copy.copy(aligner)
        aligner.dispatch = "masked"
    return aligner


# -- validation inputs ---------------------------------------------------------------------------------------


def synthetic_samples(modality: str, spec: ModalitySpec, count: int = 6, seed: int = 0) -> list[Any]:
    """Raw inputs for validation when none are given: fixed sentences, rendered shapes, tones of 1 to 3 s,
    smooth random motions of varied length, or random feature rows."""
    from unibind.datasets.shapes import COLOURS, SAMPLE_RATE, SHAPES, draw_shape, tone
    from unibind.encoders.preprocessing import FeatureSpec

    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    concepts = [(list(COLOURS)[i % len(COLOURS)], SHAPES[i % len(SHAPES)]) for i in range(count)]
    if isinstance(spec, FeatureSpec):
        return list(torch.randn(count, spec.width, generator=generator))
    if modality == "text":
        return [SENTENCES[i % len(SENTENCES)] for i in range(count)]
    if modality == "image":
        return [draw_shape(colour, shape, 96 + 16 * i, rng) for i, (colour, shape) in enumerate(concepts)]
    if modality == "audio":
        return [(tone(c, s, 1.0 + 0.4 * i, rng), SAMPLE_RATE) for i, (c, s) in enumerate(concepts)]
    if modality == "motion":
        features = getattr(spec, "num_features", 263)
        longest = getattr(spec, "max_frames", 196)
        lengths = [max(2, min(longest, 12 + 9 * ((i * 5) % count))) for i in range(count)]
        steps = [0.1 * torch.randn(length, features, generator=generator) for length in lengths]
        return [step.cumsum(dim=0).numpy() for step in steps]
    raise ValueError(f"no synthetic {modality} inputs; pass samples for it")


def validation_samples(
    modality: str, spec: ModalitySpec, given: Sequence[Any] | None, limit: int
) -> tuple[list[Any], str]:
    """Loaded samples (at least 2: the export traces with more than one row) and a description of them."""
    if given:
        raws = list(given)[:limit]
        what = f"{len(raws)} given inputs"
    else:
        raws = synthetic_samples(modality, spec)
        what = f"{len(raws)} synthetic inputs (pass samples for real ones)"
    loaded = [spec.load(raw, item=f"{modality} sample {i}") for i, raw in enumerate(raws)]
    if len(loaded) == 1:
        loaded = loaded * 2
    return loaded, what


# -- export, quantisation, comparison ------------------------------------------------------------------------


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Keep the exporter's progress lines, warnings and log records off the console (yields what it printed)."""
    printed = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield printed
    finally:
        logging.disable(previous)


def export_graph(
    tower: nn.Module,
    inputs: Mapping[str, torch.Tensor],
    axes: Mapping[str, Mapping[int, str]],
    limits: Mapping[str, int],
    path: Path,
    opset: int,
) -> None:
    """``torch.onnx.export`` of ``tower(*inputs.values())`` to ``path``, the ``axes`` dynamic (named dims)."""
    dims: dict[str, Any] = {}

    def dim(name: str) -> Any:
        if name not in dims:
            dims[name] = torch.export.Dim(name, max=limits[name]) if name in limits else torch.export.Dim(name)
        return dims[name]

    # one entry per input, packed like the tower's ``*tensors``
    shapes = (tuple({axis: dim(name) for axis, name in axes.get(key, {}).items()} for key in inputs),)
    with torch.no_grad(), quiet():
        torch.onnx.export(
            tower,
            tuple(inputs.values()),
            str(path),
            dynamo=True,
            input_names=list(inputs),
            output_names=[OUTPUT_NAME],
            dynamic_shapes=shapes,
            opset_version=opset,
            external_data=False,
            verbose=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of ``source`` into ``target``: per-channel int8 weights of the encoder's
    :data:`INT8_OP_TYPES`, after onnxruntime's pre-processing (graph optimisation; symbolic shape inference
    skipped, as it cannot follow every exported graph), which makes the quantised graph about twice as fast on
    transformers. The projection head and the aligner stay float (:data:`FLOAT_SCOPES`)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_nodes = nodes_in_scopes(source, FLOAT_SCOPES)
    # the quantiser first rewrites each Gemm as a MatMul (+ Add) named "<Gemm name>_MatMul"
    keep_float = [*float_nodes, *(f"{name}_MatMul" for name in float_nodes)]
    with tempfile.TemporaryDirectory() as scratch, quiet():
        prepared = Path(scratch) / "prepared.onnx"
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        except Exception:  # pre-processing is an optimisation: quantise the graph as exported instead
            prepared = source
        quantize_dynamic(
            prepared,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(INT8_OP_TYPES),
            nodes_to_exclude=keep_float,
        )


def nodes_in_scopes(path: Path, scopes: Sequence[str]) -> list[str]:
    """Names of the nodes of the graph at ``path`` that the exporter traced inside the :class:`AlignedTower`
    submodules ``scopes`` (read from its ``pkg.torch.onnx.name_scopes`` node metadata)."""
    import onnx

    names = []
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        meta = {prop.key: prop.value for prop in node.metadata_props}
        try:
            scope = ast.literal_eval(meta.get("pkg.torch.onnx.name_scopes", "[]"))
        except (ValueError, SyntaxError):
            continue
        if len(scope) > 1 and scope[1] in scopes:
            names.append(node.name)
    return names


@dataclass
class Comparison:
    """A graph against PyTorch: largest absolute difference, least and mean cosine over the rows."""

    max_abs_diff: float
    min_cosine: float
    mean_cosine: float


def compare(
    session: Any, preprocessor: Preprocessor, model: UnifiedEmbedder, modality: str, batches: Sequence[Any]
) -> Comparison:
    """Run ``session`` and ``model.embed_batch`` on each collated batch and compare their embeddings ``[B, D]``."""
    diffs, cosines = [], []
    for batch in batches:
        with torch.no_grad():
            expected = model.embed_batch(modality, batch).float()
        feeds = session_feeds(session, preprocessor(batch))
        got = torch.from_numpy(session.run([OUTPUT_NAME], feeds)[0]).float()
        if got.shape != expected.shape:
            raise ValueError(f"the graph gave {tuple(got.shape)} where PyTorch gives {tuple(expected.shape)}")
        diffs.append(float((got - expected).abs().max()))
        cosines.append(nn.functional.cosine_similarity(got, expected, dim=-1))
    rows = torch.cat(cosines)
    return Comparison(max(diffs), float(rows.min()), float(rows.mean()))


def describe_inputs(inputs: Mapping[str, torch.Tensor], axes: Mapping[str, Mapping[int, str]]) -> list[dict]:
    """``[{"name", "dtype", "shape"}]`` of the graph inputs: axis names where dynamic, sizes where fixed."""
    described = []
    for name, tensor in inputs.items():
        dynamic = axes.get(name, {})
        shape = [dynamic.get(axis, size) for axis, size in enumerate(tensor.shape)]
        described.append({"name": name, "dtype": str(tensor.dtype).removeprefix("torch."), "shape": shape})
    return described


def _first_line(error: BaseException) -> str:
    """``Type: first line`` of the innermost cause of ``error`` (the exporter wraps the error that says why)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:500]


# -- one modality ----------------------------------------------------------------------------------------


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
        part = _validate(model, modality, preprocessor, path, batches, int8=int8, tolerance=tolerance)
    except Exception as error:  # onnxruntime cannot load or run the graph
        for leftover in (path, folder / f"{modality}.int8.onnx"):
            leftover.unlink(missing_ok=True)
        return ModalityExport(modality, "skipped", f"the exported graph does not run: {_first_line(error)}"), None
    part.validated_on, part.batch_sizes = validated_on, [len(loaded), 1]
    part.inputs, part.fixed_axes = describe_inputs(example, axes), fixed
    assets = Path(ASSETS_DIR) / modality
    preprocessor.save(folder / assets)
    part.seconds = round(time.perf_counter() - started, 2)
    return part, _manifest_entry(part, preprocessor, assets, type(encoder).__name__, model.embed_dim)


def export_with_fallback(
    tower: nn.Module, preprocessor: Preprocessor, example: Mapping[str, torch.Tensor], path: Path, opset: int
) -> tuple[dict[str, dict[int, str]], list[str]]:
    """Export with every dynamic axis of ``preprocessor``; if that fails and some are optional (the frames of
    a backbone that takes one window length only), again with those fixed. Returns the axes the graph has and
    the names of those fixed."""
    axes = {name: dict(named) for name, named in preprocessor.dynamic_axes().items()}
    try:
        export_graph(tower, example, axes, preprocessor.axis_limits(), path, opset)
        return axes, []
    except Exception:
        optional = preprocessor.optional_axes()
        if not optional:
            raise
    axes = {name: {a: n for a, n in named.items() if n not in optional} for name, named in axes.items()}
    export_graph(tower, example, axes, preprocessor.axis_limits(), path, opset)
    return axes, sorted(optional)


def _validate(
    model: UnifiedEmbedder,
    modality: str,
    preprocessor: Preprocessor,
    path: Path,
    batches: Sequence[Any],
    *,
    int8: bool,
    tolerance: float,
) -> ModalityExport:
    """Compare the graph at ``path`` (and, with ``int8``, its quantised copy beside it) with PyTorch."""
    part = ModalityExport(modality, "exported", file=path.name, size_bytes=path.stat().st_size)
    fp32 = compare(open_session(path), preprocessor, model, modality, batches)
    part.max_abs_diff = fp32.max_abs_diff
    if fp32.max_abs_diff > tolerance:
        part.status, part.reason = "mismatch", f"max |onnx - torch| = {fp32.max_abs_diff:.3g} > {tolerance:g}"
    if int8:
        quantized = path.with_name(f"{modality}.int8.onnx")
        quantize_int8(path, quantized)
        low = compare(open_session(quantized), preprocessor, model, modality, batches)
        part.int8_file, part.int8_size_bytes = quantized.name, quantized.stat().st_size
        part.int8_max_abs_diff, part.int8_min_cosine = low.max_abs_diff, low.min_cosine
        part.int8_mean_cosine = low.mean_cosine
    return part


def _manifest_entry(
    part: ModalityExport, preprocessor: Preprocessor, assets: Path, encoder: str, embed_dim: int
) -> dict[str, Any]:
    """What ``unibind_onnx.json`` records of one exported graph."""
    return {
        "file": part.file,
        "int8_file": part.int8_file,
        "inputs": part.inputs,
        "output": {"name": OUTPUT_NAME, "shape": [preprocessor.output_rows, embed_dim], "dtype": "float32"},
        "preprocessing": preprocessor.describe(),
        "assets": assets.as_posix(),
        "encoder": encoder,
        "fixed_axes": part.fixed_axes,
        "validation": {
            "inputs": part.validated_on,
            "batch_sizes": part.batch_sizes,
            "max_abs_diff": part.max_abs_diff,
            "int8_max_abs_diff": part.int8_max_abs_diff,
            "int8_min_cosine": part.int8_min_cosine,
            "int8_mean_cosine": part.int8_mean_cosine,
            "status": part.status,
        },
    }


# -- the whole model -------------------------------------------------------------------------------------


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in ("torch", "onnx", "onnxscript", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


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
    names = list(config["encoders"]) if modalities is None else [str(Modality(m)) for m in modalities]
    unknown = [m for m in names if m not in config["encoders"]]
    if unknown:
        raise KeyError(f"{model_dir} has no encoder for {unknown}; it has {list(config['encoders'])}")
    parts: dict[str, ModalityExport] = {}

    def write(folder: Path) -> None:
        graphs = {}
        for modality in names:
            if log is not None:
                log(f"exporting {modality} ...")
            part, entry = export_modality(
                model_dir,
                modality,
                folder,
                int8=int8,
                opset=opset,
                samples=(samples or {}).get(modality),
                spec=(specs or {}).get(modality),
                max_samples=max_samples,
                tolerance=tolerance,
            )
            parts[modality] = part
            if entry is not None:
                graphs[modality] = entry
            if log is not None:
                log(f"{modality}: {part.status}" + (f" ({part.reason})" if part.reason else ""))
        manifest = {
            "format_version": FORMAT_VERSION,
            "embed_dim": config["embed_dim"],
            "matryoshka_dims": config.get("matryoshka_dims"),
            "modalities": list(graphs),
            "model_modalities": list(config["encoders"]),
            "aligner": config["aligner"]["class_path"],
            "opset": opset,
            "exporter": "torch.onnx.export(dynamo=True)",
            "versions": _versions(),
            "int8": INT8_RECORD if int8 else None,
            "graphs": graphs,
            "skipped": {m: part.reason for m, part in parts.items() if part.status == "skipped"},
        }
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=_jsonable), encoding="utf-8")

    write_directory(out_dir, write, owned=OWNED)
    dims = config.get("matryoshka_dims")
    return ExportReport(out_dir, config["embed_dim"], list(dims) if dims else None, parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
