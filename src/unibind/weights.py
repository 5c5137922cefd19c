"""Safe loading of weight and checkpoint files: safetensors or ``torch.load(weights_only=True)``, never unpickling.

Every failure is a :class:`WeightsError` naming the file and saying what it is not; none advises unpickling.
This module imports only torch and safetensors, so indexes and models can load without the encoders.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from unibind.errors import InputError

CONVERT_HINT = (
    "If you trust its source, load it once in your own Python session and save it again holding only tensors "
    "(safetensors.torch.save_file) or tensors, numbers, strings and plain containers (torch.save); checkpoints "
    "written by unibind load as they are."
)
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6


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


def load_weights_only(path: str | Path, mmap: bool = False) -> object:
    """``torch.load(path, weights_only=True)`` on CPU, or :class:`WeightsError` saying what the file is not.

    A pickle that needs arbitrary classes is refused before anything in it runs; the error says how to
    re-save a trusted file, never to load it with ``weights_only=False``. ``mmap=True`` maps the tensors of a
    file in torch's zip format instead of reading them (for checking a large checkpoint).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with path.open("rb") as handle:
        zipped = handle.read(4) == _ZIP_MAGIC
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipped)
    except pickle.UnpicklingError as err:
        raise WeightsError(
            f"{path} is not a weights-only torch checkpoint ({pickle_reason(err)}); unibind never unpickles "
            f"arbitrary objects. {CONVERT_HINT}"
        ) from None
    except Exception as err:  # torch reports other bad files as RuntimeError, EOFError, KeyError, ValueError ...
        reason = f"{type(err).__name__}: {str(err).split('. ', 1)[0].strip()}".rstrip(": ")
        if zipped:
            raise WeightsError(f"{path}: cannot be read as a torch checkpoint, truncated? ({reason})") from None
        what = "the file is empty" if path.stat().st_size == 0 else f"not torch's format: {reason}"
        raise WeightsError(f"{path}: not a torch checkpoint ({what})") from None


def pickle_reason(err: Exception) -> str:
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
