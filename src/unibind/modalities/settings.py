"""A spec's settings as JSON and back, so that data indexed with some settings is queried with the same ones.

``spec_settings(ImageSpec(224))`` is ``{"image_size": 224, "background": [255, 255, 255]}``: the arguments of the
spec's constructor, read back from the attributes of the same name (tensors and tuples become lists).
``spec_from_settings("image", settings)`` builds the spec again.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from unibind.modalities import ModalitySpec, default_spec


def spec_settings(spec: ModalitySpec) -> dict[str, Any]:
    """The constructor arguments of ``spec`` as JSON values."""
    settings = {}
    for name in _arguments(type(spec)):
        value = getattr(spec, name)
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        settings[name] = value
    return settings


def spec_from_settings(modality: str, settings: dict[str, Any]) -> ModalitySpec:
    """The spec of ``modality`` built with ``settings`` (from :func:`spec_settings`)."""
    spec_class = type(default_spec(modality))
    known = set(_arguments(spec_class))
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"{spec_class.__name__} takes no setting {unknown}; it takes {sorted(known)}")
    if isinstance(settings.get("background"), list):
        settings = {**settings, "background": tuple(settings["background"])}
    return spec_class(**settings)


def _arguments(spec_class: type[ModalitySpec]) -> list[str]:
    """Names of the constructor's named arguments (none for specs without settings)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = inspect.signature(spec_class.__init__).parameters.values()
    return [p.name for p in parameters if p.kind in named and p.name != "self"]
