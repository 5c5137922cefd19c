"""``torch.onnx.export`` of a tower with named dynamic axes, fixing the optional ones if the exporter fails."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unibind.encoders.preprocessing import Preprocessor
from unibind.export.runtime import OUTPUT_NAME


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


def describe_inputs(inputs: Mapping[str, torch.Tensor], axes: Mapping[str, Mapping[int, str]]) -> list[dict]:
    """``[{"name", "dtype", "shape"}]`` of the graph inputs: axis names where dynamic, sizes where fixed."""
    described = []
    for name, tensor in inputs.items():
        dynamic = axes.get(name, {})
        shape = [dynamic.get(axis, size) for axis, size in enumerate(tensor.shape)]
        described.append({"name": name, "dtype": str(tensor.dtype).removeprefix("torch."), "shape": shape})
    return described
