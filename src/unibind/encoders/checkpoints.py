"""Safe loading of local weight files: safetensors or ``torch.load(weights_only=True)``, never plain unpickling."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch checkpoint restricted to tensors.

    A checkpoint that wraps the weights under ``state_dict`` or ``model`` is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return load_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError or RuntimeError for non-weight files
        raise ValueError(f"{path} is not a weights-only torch checkpoint: {err}") from err
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a flat state dict of tensors")
    return state


def convert_lukemelas_efficientnet(
    state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Map an EfficientNet(-Lite) state dict in the ``efficientnet_pytorch`` layout onto timm's names.

    Both implementations register the same tensors in the same order (stem, blocks, head,
    classifier), so the mapping pairs them in order and checks every shape.
    """
    if len(state) != len(target):
        raise ValueError(f"cannot map {len(state)} tensors onto a timm model with {len(target)}")
    converted = {}
    for (src_key, tensor), (dst_key, reference) in zip(state.items(), target.items(), strict=True):
        if tensor.shape != reference.shape:
            raise ValueError(
                f"shape mismatch mapping {src_key} {tuple(tensor.shape)} -> {dst_key} {tuple(reference.shape)}"
            )
        converted[dst_key] = tensor
    return converted


def is_lukemelas_layout(state: dict[str, torch.Tensor]) -> bool:
    return "_conv_stem.weight" in state
