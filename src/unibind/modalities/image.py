"""Images: files or arrays to float tensors in [0, 1]; each image encoder applies its own normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import functional as TF

from unibind.errors import InputError, item_name
from unibind.modalities.base import Modality, ModalitySpec

# Above this many resized pixels per output pixel, only the source region under the crop is resampled.
_WHOLE_RESIZE_LIMIT = 4


class ImageSpec(ModalitySpec):
    """Loads an image (path, PIL image, HxWxC uint8 array or CxHxW tensor) as RGB ``Tensor[3, S, S]``.

    The shorter side is resized to ``image_size`` and the centre is cropped (CLIP's evaluation
    transform). Transparent pixels are composited onto ``background``. Values stay in [0, 1];
    mean/std normalisation is the encoder's business. For very elongated images (a 1 x 4,000 strip would
    become 896,000 x 224 before the crop) only the part of the image under the crop is resampled, with
    the same filter and geometry, so memory stays bounded by the crop. Files over PIL's pixel limit
    (``PIL.Image.MAX_IMAGE_PIXELS``, a decompression-bomb guard) are refused.

    Args:
        image_size: side ``S`` of the square output.
        background: RGB colour (0-255) under transparent pixels (default white).
    """

    modality = Modality.IMAGE
    takes_path = True

    def __init__(self, image_size: int = 224, background: tuple[int, int, int] = (255, 255, 255)) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.image_size = image_size
        self.background = tuple(background)

    def _rgb(self, image: Image.Image) -> Image.Image:
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (*self.background, 255))
            return Image.alpha_composite(canvas, rgba).convert("RGB")
        return image.convert("RGB")

    def load(self, raw: Any, *, item: str | None = None) -> torch.Tensor:
        return TF.to_tensor(self.resize_crop(self._to_pil(raw, item_name(raw, item))))

    def resize_crop(self, image: Image.Image) -> Image.Image:
        """Bicubic resize of the short side to ``S`` then a centre ``S x S`` crop (torchvision's geometry)."""
        size = self.image_size
        width, height = image.size
        if width <= height:
            new_width, new_height = size, int(size * height / width)
        else:
            new_width, new_height = int(size * width / height), size
        if new_width * new_height <= _WHOLE_RESIZE_LIMIT * size * size:
            image = TF.resize(image, size, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
            return TF.center_crop(image, [size, size])
        # the crop's window in source coordinates; PIL's filter still reads the pixels around it
        left, top = round((new_width - size) / 2.0), round((new_height - size) / 2.0)
        scale_x, scale_y = width / new_width, height / new_height
        box = (left * scale_x, top * scale_y, (left + size) * scale_x, (top + size) * scale_y)
        return image.resize((size, size), Image.Resampling.BICUBIC, box=box)

    def _to_pil(self, raw: Any, item: str) -> Image.Image:
        """An RGB image from a path, a PIL image, a ``[C, H, W]`` tensor or a uint8 ``[H, W]``/``[H, W, 3|4]`` array."""
        if isinstance(raw, (str, Path)):
            return self._read_file(Path(raw), item)
        if isinstance(raw, Image.Image):
            return self._rgb(raw)
        if isinstance(raw, torch.Tensor):
            raw = _tensor_to_array(raw, item)
        if isinstance(raw, np.ndarray):
            return self._rgb(Image.fromarray(_checked_array(raw, item)))
        raise InputError(f"{item}: cannot read an image from {type(raw).__name__}")

    def _read_file(self, path: Path, item: str) -> Image.Image:
        """Decode the image file ``path`` as RGB; a missing, undecodable or too large file is an ``InputError``."""
        if not path.is_file():
            raise InputError(f"{item}: image file not found: {path}")
        try:
            with Image.open(path) as opened:
                opened.load()
                return self._rgb(opened)
        except Image.DecompressionBombError as err:
            raise InputError(
                f"{item}: image {path} is larger than the pixel limit ({err}); expected at most "
                f"PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS} pixels"
            ) from err
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise InputError(f"{item}: cannot decode image {path}: {err}") from err

    def collate(self, samples: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(samples))

    def dummy_batch(self, n: int) -> torch.Tensor:
        return torch.rand(n, 3, self.image_size, self.image_size)

    def __repr__(self) -> str:
        return f"ImageSpec(image_size={self.image_size}, background={self.background})"


def _tensor_to_array(tensor: torch.Tensor, item: str) -> np.ndarray:
    """``[C, H, W]`` with C 1 or 3 -> uint8 ``[H, W, 3]``; uint8 values are kept, others clipped to [0, 1] x 255."""
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise InputError(f"{item}: image tensor must be [C, H, W] with C in (1, 3), got {tuple(tensor.shape)}")
    array = tensor.expand(3, -1, -1).permute(1, 2, 0).numpy()
    return (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8) if array.dtype != np.uint8 else array


def _checked_array(array: np.ndarray, item: str) -> np.ndarray:
    """A non-empty uint8 ``[H, W, 3|4]`` array; a grey ``[H, W]`` one is repeated into three channels."""
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or array.dtype != np.uint8:
        raise InputError(f"{item}: image array must be uint8 [H, W, 3|4], got {array.dtype} {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{item}: image array is empty: {array.shape}")
    return array
