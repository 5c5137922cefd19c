"""Safe loading of local weight files: safetensors or ``torch.load(weights_only=True)``, never plain unpickling.

Every failure is a :class:`WeightsError` naming the file and what was expected; none advises unpickling.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from unibind.modalities.base import InputError

CONVERT_HINT = (
    "If you trust its source, load it once in your own Python session and save its tensors with "
    "safetensors.torch.save_file; unibind reads .safetensors files directly."
)


class WeightsError(InputError):
    """A weights or checkpoint file cannot be read safely; the message names the file and what was expected."""


def load_safetensors(path: str | Path, keys: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (only ``keys`` when given), or :class:`WeightsError` naming the file.

    A truncated file, a header that is too large or not JSON, or offsets outside the file all come back
    as ``WeightsError`` (safetensors' own ``SafetensorError`` does not name the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as weights:
            names = [key for key in weights.keys() if keys is None or key in keys]  # noqa: SIM118 (not iterable)
            return {key: weights.get_tensor(key) for key in names}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err


def load_weights_only(path: str | Path) -> object:
    """``torch.load(path, weights_only=True)`` on CPU, or :class:`WeightsError` saying what the file is not.

    A pickle that needs arbitrary classes is refused without being unpickled; the error says how to
    convert a trusted file, never to set ``weights_only=False`` here.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise WeightsError(
            f"{path} is not a weights-only torch checkpoint ({_pickle_reason(err)}); unibind never unpickles "
            f"arbitrary objects. {CONVERT_HINT}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        reason = str(err).split(". ", 1)[0]
        raise WeightsError(
            f"{path}: cannot be read as a torch checkpoint (truncated or corrupted?): {reason}"
        ) from None


def _pickle_reason(err: Exception) -> str:
    """The useful line of torch's weights-only refusal (the global it would not load), without its advice."""
    for line in str(err).splitlines():
        if "unsupported global" in line.lower() or "unsupported operand" in line.lower():
            return line.strip().removeprefix("WeightsUnpickler error: ").rstrip(".")
    return "it holds objects other than tensors and plain containers"


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch checkpoint restricted to tensors.

    A checkpoint that wraps the weights under ``state_dict`` or ``model`` is unwrapped.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    state = load_weights_only(path)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a flat state dict of tensors")
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
