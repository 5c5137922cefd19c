"""encode(): mixed inputs in input order, modality inference, skip mode, Matryoshka dims, saved dims."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unibind.embedder import UnifiedEmbedder
from unibind.encoding import infer_modality
from unibind.modalities import InputError
from unibind.objectives import InfoNCELoss, MatryoshkaLoss
from unibind.training.module import UnibindModule

from .serve.conftest import AUDIO, EMOJI, SPECS, tiny_model

PNG = EMOJI / "images" / "1f600.png"


@pytest.fixture(scope="module")
def model() -> UnifiedEmbedder:
    return tiny_model()


def test_a_mixed_list_comes_back_in_input_order(model: UnifiedEmbedder) -> None:
    motion = np.random.default_rng(0).standard_normal((30, 45)).astype(np.float32)  # [frames, features]
    inputs = ["a grinning face", PNG, AUDIO[0], "a red circle", motion, Image.open(PNG)]
    mixed = model.encode(inputs, specs=SPECS, batch_size=2)
    assert mixed.shape == (6, 32)
    one_by_one = torch.cat([model.encode(item, specs=SPECS) for item in inputs])
    torch.testing.assert_close(mixed, one_by_one, atol=1e-5, rtol=0)
    by_hand = {
        "text": model({"text": ["a grinning face", "a red circle"]})["text"],
        "image": model({"image": SPECS["image"].collate([SPECS["image"].load(PNG)] * 2)})["image"],
    }
    torch.testing.assert_close(mixed[[0, 3]], by_hand["text"], atol=1e-5, rtol=0)
    torch.testing.assert_close(mixed[[1, 5]], by_hand["image"], atol=1e-5, rtol=0)
    assert torch.allclose(mixed.norm(dim=1), torch.ones(6), atol=1e-5)
    as_numpy = model.encode(inputs[:2], specs=SPECS, convert_to="numpy")
    assert isinstance(as_numpy, np.ndarray)
    assert as_numpy.dtype == np.float32


def test_modality_inference() -> None:
    assert infer_modality("a sentence about cats.png and dogs") == "text"  # spaces: text unless it is a file
    assert infer_modality(str(PNG)) == "image"
    assert infer_modality("missing/photo.JPG") == "image"  # a path: loading it will name the missing file
    assert infer_modality(Path("clip.flac")) == "audio"
    assert infer_modality(np.zeros((20, 263))) == "motion"
    assert infer_modality(torch.zeros(16000)) == "audio"
    assert infer_modality(np.zeros((8, 8, 3), dtype=np.uint8)) == "image"
    with pytest.raises(InputError, match=r"no modality reads '\.xyz' files"):
        infer_modality(Path("weights.xyz"))
    with pytest.raises(InputError, match="cannot tell the modality of a ndarray of shape"):
        infer_modality(np.zeros((1, 2, 3, 4)))


def test_bad_items_raise_naming_them_or_are_skipped(model: UnifiedEmbedder, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    inputs = ["fine", broken, "also fine", tmp_path / "gone.wav", Path("x.xyz")]
    with pytest.raises(InputError, match=r"input 1: .*broken\.png"):
        model.encode(inputs[:4], specs=SPECS)
    with pytest.raises(InputError, match=r"input 4: x\.xyz: no modality"):
        model.encode(inputs[4:] + inputs[:1], specs=SPECS, names=["input 4", "input 0"])
    messages = []
    vectors, skipped = model.encode(
        inputs, specs=SPECS, on_error="skip", on_skip=lambda position, message: messages.append((position, message))
    )
    assert skipped == [1, 3, 4]
    assert [position for position, _ in messages] == [4, 1, 3]  # inference first, then loading per modality
    assert "gone.wav" in messages[2][1]
    torch.testing.assert_close(vectors, model.encode(["fine", "also fine"]), atol=1e-5, rtol=0)
    with pytest.raises(KeyError, match="no graph encoder"):
        model.encode([1.0], modality="graph")


def test_matryoshka_dims_truncate_renormalise_and_are_saved(tmp_path: Path) -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="not trained for smaller dimensions"):
        model.encode("hello", dim=8)
    UnibindModule(model, objective=MatryoshkaLoss(InfoNCELoss(), [8, 16, 32]))
    assert model.matryoshka_dims == (8, 16, 32)
    full = model.encode(["hello", "world"])
    cut = model.encode(["hello", "world"], dim=8)
    torch.testing.assert_close(cut, torch.nn.functional.normalize(full[:, :8], dim=1), atol=1e-6, rtol=0)
    raw = model.encode(["hello"], dim=16, normalize=False)
    assert raw.shape == (1, 16)
    with pytest.raises(ValueError, match=r"trained for dimensions \[8, 16, 32\]"):
        model.encode("hello", dim=12)
    loaded = UnifiedEmbedder.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert loaded.matryoshka_dims == (8, 16, 32)
    with pytest.raises(ValueError, match="between 1 and embed_dim=32"):
        UnifiedEmbedder(model.encoders, 32, model.aligner, matryoshka_dims=[64])


def test_encode_leaves_the_training_mode_as_it_was(model: UnifiedEmbedder) -> None:
    model.train()
    model.encode("hello")
    assert model.training
    model.eval()
