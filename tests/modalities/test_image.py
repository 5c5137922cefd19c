from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from unibind.modalities import ImageSpec, InputError


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(np.full((40, 60, 3), 200, dtype=np.uint8)).save(path)
    return path


def test_same_tensor_from_path_pil_array_and_tensor(png: Path) -> None:
    spec = ImageSpec(image_size=16)
    from_path = spec.load(png)
    array = np.array(Image.open(png).convert("RGB"))
    assert from_path.shape == (3, 16, 16)
    assert from_path.min() >= 0
    assert from_path.max() <= 1
    torch.testing.assert_close(spec.load(Image.open(png)), from_path)
    torch.testing.assert_close(spec.load(array), from_path)
    torch.testing.assert_close(
        spec.load(torch.from_numpy(array).permute(2, 0, 1).float() / 255), from_path, atol=1 / 255, rtol=0
    )


def test_grayscale_and_rgba_become_rgb() -> None:
    spec = ImageSpec(image_size=8)
    assert spec.load(np.zeros((10, 10), dtype=np.uint8)).shape == (3, 8, 8)
    assert spec.load(np.zeros((10, 10, 4), dtype=np.uint8)).shape == (3, 8, 8)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"row 3: image file not found"):
        ImageSpec().load(tmp_path / "nope.png", item="row 3")


def test_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(InputError, match=r"row 4: cannot decode image .*bad.png"):
        ImageSpec().load(bad, item="row 4")


@pytest.mark.parametrize(
    "raw",
    [np.zeros((4, 4, 3), dtype=np.float32), np.zeros((0, 4, 3), dtype=np.uint8), torch.zeros(2, 4, 4), 42],
)
def test_bad_arrays(raw) -> None:
    with pytest.raises(InputError, match="item 9"):
        ImageSpec().load(raw, item="item 9")


def test_errors_name_the_path_when_no_item_is_given(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff truncated")
    with pytest.raises(InputError, match=rf"^{bad}: cannot decode image"):
        ImageSpec().load(bad)


def test_images_over_the_pixel_limit_are_input_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (300, 300)).save(path)  # compresses to a few hundred bytes
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # PIL refuses over twice the limit
    with pytest.raises(InputError, match=r"row 2: image .*bomb.png is larger than the pixel limit"):
        ImageSpec().load(path, item="row 2")


def gradient(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 90)], -1).astype(
        np.uint8
    )


@pytest.mark.parametrize("shape", [(1, 4000), (4000, 1), (3, 2000), (40, 3000), (900, 30)])
def test_elongated_images_match_the_full_resize_within_rounding(shape: tuple[int, int]) -> None:
    """Only the crop's region is resampled; the result is the full resize's crop up to 8-bit rounding."""
    image = Image.fromarray(gradient(*shape))
    full = TF.resize(image, 224, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
    expected = TF.to_tensor(TF.center_crop(full, [224, 224]))
    assert (ImageSpec().load(image) - expected).abs().max() <= 1.01 / 255


def test_a_strip_image_is_never_resized_past_the_crop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole resize of a 1 x 4,000 strip would be 896,000 x 224 (600 MB); every resize stays near the crop.

    (``benchmarks/image_strip_memory.py`` measures the peak memory of both ways.)"""
    sizes = []
    real_resize = Image.Image.resize

    def recording_resize(image: Image.Image, size, *args, **kwargs) -> Image.Image:
        sizes.append(tuple(size))
        return real_resize(image, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording_resize)
    path = tmp_path / "strip.png"
    Image.fromarray(gradient(1, 4000)).save(path)
    assert ImageSpec().load(path).shape == (3, 224, 224)
    assert sizes
    assert max(width * height for width, height in sizes) <= 4 * 224 * 224


def test_collate_and_dummy_batch() -> None:
    spec = ImageSpec(image_size=12)
    batch = spec.dummy_batch(3)
    assert batch.shape == (3, 3, 12, 12)
    assert spec.collate(list(batch)).shape == (3, 3, 12, 12)
    assert repr(spec) == "ImageSpec(image_size=12, background=(255, 255, 255))"
    with pytest.raises(ValueError, match="image_size must be positive"):
        ImageSpec(image_size=0)


def test_transparent_pixels_take_the_background(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent black
    rgba[:4, :, :] = (255, 0, 0, 255)  # opaque red top half
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    white = ImageSpec(8).load(tmp_path / "t.png")
    assert white[:, 6, 4].tolist() == [1.0, 1.0, 1.0]
    assert white[:, 1, 4].tolist() == [1.0, 0.0, 0.0]
    grey = ImageSpec(8, background=(0, 0, 0)).load(rgba)
    assert grey[:, 6, 4].tolist() == [0.0, 0.0, 0.0]
