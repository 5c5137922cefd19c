"""The frozen-feature cache: hits when nothing changed, recomputes when the data or the model change."""

from pathlib import Path

import pytest
import torch

from unibind.encoders.base import Encoder
from unibind.features import cached_features, data_checksum
from unibind.modalities import ImageSpec, Modality, TextSpec


class CountingTextEncoder(Encoder):
    """Text -> [len(text), scale] features; counts the texts it encoded."""

    modality = Modality.TEXT

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.width = 2
        self.weight = torch.nn.Parameter(torch.tensor(scale))
        self.calls = 0

    def forward(self, batch: list[str]) -> torch.Tensor:
        self.calls += len(batch)
        return torch.tensor([[len(t), 1.0] for t in batch]) * self.weight


def test_second_call_hits_the_cache(tmp_path: Path) -> None:
    encoder = CountingTextEncoder()
    first = cached_features(encoder, TextSpec(), ["a", "bb", "ccc"], tmp_path, batch_size=2, progress=False)
    assert encoder.calls == 3
    second = cached_features(encoder, TextSpec(), ["a", "bb", "ccc"], tmp_path, progress=False)
    assert encoder.calls == 3
    assert torch.equal(first, second)
    assert first[:, 0].tolist() == [1.0, 2.0, 3.0]


def test_changed_data_recomputes(tmp_path: Path) -> None:
    encoder = CountingTextEncoder()
    cached_features(encoder, TextSpec(), ["a", "bb"], tmp_path, progress=False)
    out = cached_features(encoder, TextSpec(), ["a", "bbb"], tmp_path, progress=False)
    assert encoder.calls == 4
    assert out[1, 0] == 3.0


def test_changed_model_recomputes(tmp_path: Path) -> None:
    cached_features(CountingTextEncoder(scale=1.0), TextSpec(), ["a"], tmp_path, progress=False)
    other = CountingTextEncoder(scale=2.0)
    out = cached_features(other, TextSpec(), ["a"], tmp_path, progress=False)
    assert other.calls == 1
    assert out[0, 0] == 2.0
    tweaked = CountingTextEncoder(scale=1.0)
    with torch.no_grad():
        tweaked.weight += 1.0  # same constructor arguments, different weights
    cached_features(tweaked, TextSpec(), ["a"], tmp_path, progress=False)
    assert tweaked.calls == 1


def test_changed_file_content_recomputes(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "x.png"
    Image.new("RGB", (4, 4), (0, 0, 0)).save(path)
    before = data_checksum([path])
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path)
    assert data_checksum([path]) != before
    assert data_checksum(["x"]) != data_checksum(["y"])
    with pytest.raises(TypeError, match="cannot checksum"):
        data_checksum([3])
    assert repr(ImageSpec(8)) != repr(ImageSpec(16))  # the spec takes part in the key
