"""Dynamic int8 quantisation of an exported graph, leaving the projection head and the aligner float."""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Sequence
from pathlib import Path

from unibind.export.graph import quiet

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
    """Names of the nodes of the graph at ``path`` that the exporter traced inside the
    :class:`~unibind.export.tower.AlignedTower` submodules ``scopes`` (read from its
    ``pkg.torch.onnx.name_scopes`` node metadata)."""
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
