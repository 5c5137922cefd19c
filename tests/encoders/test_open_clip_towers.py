from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from unibind.encoders import TINY_CLIP_CFG, OpenClipImageEncoder, OpenClipTextEncoder


def test_tiny_towers_shapes_and_repr() -> None:
    image, text = OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG), OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)
    assert image(torch.rand(3, 3, 32, 32)).shape == (3, 64)
    assert image(torch.rand(3, 3, 48, 48)).shape == (3, 64)  # resized to the tower's size
    assert text(["a cat", "a dog", "a red circle"]).shape == (3, 64)
    assert "modality=image, width=64, locked=False" in repr(image)
    assert not hasattr(text.tower, "visual")


@pytest.mark.parametrize("side", [32, 48])
def test_tiny_towers_equal_the_wrapped_open_clip_forward(side: int) -> None:
    """Features are open_clip's own ``encode_image`` / ``encode_text`` of the wrapped model, on images resized
    (bicubic) to the tower's 32 px and standardised with the OpenAI mean/std, and on open_clip's tokens."""
    image = OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG).eval()
    text = OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG).eval()
    assert isinstance(image.tower, open_clip.transformer.VisionTransformer)
    assert isinstance(text.tower, open_clip.CLIP)
    clip = open_clip.CLIP(**TINY_CLIP_CFG).eval()  # a full model around the image tower's weights
    clip.visual.load_state_dict(image.tower.state_dict())
    images = torch.rand(3, 3, side, side)
    resized = images if side == 32 else F.interpolate(images, size=(32, 32), mode="bicubic", align_corners=False)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    pixels = (resized - mean) / std
    texts = ["a cat", "a photo of a big red circle on a blue square", ""]
    tokens = open_clip.tokenize(texts, context_length=32)
    with torch.no_grad():
        features = image(images)
        torch.testing.assert_close(features, clip.encode_image(pixels))
        torch.testing.assert_close(features, image.tower(pixels))
        torch.testing.assert_close(text(texts), text.tower.encode_text(tokens))
    assert not torch.allclose(features[0], features[1])  # distinct inputs, distinct features


def test_matches_open_clip_model(tmp_path: Path) -> None:
    """A tower built from a local checkpoint gives the same features as the full open_clip model."""
    torch.manual_seed(0)
    clip = open_clip.CLIP(**TINY_CLIP_CFG).eval()
    checkpoint = tmp_path / "tiny.pt"
    torch.save(clip.state_dict(), checkpoint)
    image_enc = OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG)
    image_enc.tower.load_state_dict(clip.visual.state_dict())
    images = torch.rand(2, 3, 32, 32)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(image_enc.eval()(images), clip.encode_image((images - mean) / std))
    text_enc = OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)
    missing = text_enc.tower.load_state_dict(
        {k: v for k, v in clip.state_dict().items() if not k.startswith("visual.")}, strict=False
    )
    assert not missing.missing_keys
    tokens = open_clip.SimpleTokenizer(context_length=32)(["a photo of a cat"])
    with torch.no_grad():
        torch.testing.assert_close(text_enc.eval()(["a photo of a cat"]), clip.encode_text(tokens))


def test_lock_freezes_and_keeps_eval() -> None:
    encoder = OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG).lock()
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training
    assert not encoder.tower.training


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        OpenClipImageEncoder()
    with pytest.raises(ValueError, match="random-init"):
        OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG, pretrained="openai")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        OpenClipImageEncoder(model_name="ViT-B-32", pretrained=str(tmp_path / "missing.pt"))


def test_rebuild_args_drop_pretrained() -> None:
    encoder = OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)
    assert encoder.rebuild_args(Path("unused"))["pretrained"] is None


def test_registered_name_with_local_checkpoint(tmp_path: Path) -> None:
    """The ``pretrained=<file>`` path goes through open_clip.create_model and loads the file's weights."""
    import json

    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    (config_dir / "unibind-tiny-test.json").write_text(json.dumps(TINY_CLIP_CFG))
    open_clip.add_model_config(config_dir)
    torch.manual_seed(1)
    reference = open_clip.CLIP(**TINY_CLIP_CFG).eval()
    checkpoint = tmp_path / "tiny.pt"
    torch.save({"state_dict": reference.state_dict()}, checkpoint)
    image_enc = OpenClipImageEncoder(model_name="unibind-tiny-test", pretrained=str(checkpoint)).eval()
    text_enc = OpenClipTextEncoder(model_name="unibind-tiny-test", pretrained=str(checkpoint)).eval()
    images = torch.rand(2, 3, 32, 32)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    tokens = open_clip.SimpleTokenizer(context_length=32)(["a red circle"])
    with torch.no_grad():
        torch.testing.assert_close(image_enc(images), reference.encode_image((images - mean) / std))
        torch.testing.assert_close(text_enc(["a red circle"]), reference.encode_text(tokens))
