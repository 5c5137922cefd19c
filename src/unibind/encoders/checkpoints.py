"""Weight layouts of other implementations mapped onto the ones unibind's encoders use."""

from __future__ import annotations

import torch


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
