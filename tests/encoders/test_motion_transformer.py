"""The TMR-style motion encoder: variable lengths in one batch, padding never changes an embedding."""

import pytest
import torch

from unibind.encoders import MotionTransformerEncoder
from unibind.encoders.motion_transformer import sinusoidal_positions
from unibind.modalities import MotionSpec


def _tiny() -> MotionTransformerEncoder:
    torch.manual_seed(0)
    return MotionTransformerEncoder(num_features=12, width=16, depth=2, heads=2, ff_dim=32, max_frames=64).eval()


def test_padding_never_changes_the_embedding() -> None:
    encoder, spec = _tiny(), MotionSpec(12, max_frames=64)
    short, long = torch.randn(7, 12), torch.randn(40, 12)
    alone = encoder(spec.collate([short]))
    together = encoder(spec.collate([short, long]))
    assert together.shape == (2, 16)
    torch.testing.assert_close(alone[0], together[0], rtol=1e-5, atol=1e-5)
    padded = spec.collate([short, long])
    padded.features[0, 7:] = 1e3  # garbage where the mask is off
    torch.testing.assert_close(encoder(padded)[0], alone[0], rtol=1e-5, atol=1e-5)


def test_frames_matter_and_order_matters() -> None:
    encoder, spec = _tiny(), MotionSpec(12, max_frames=64)
    clip = torch.randn(10, 12)
    a = encoder(spec.collate([clip]))
    b = encoder(spec.collate([clip.flip(0)]))
    assert not torch.allclose(a, b, atol=1e-4)  # positional encoding: time order changes the vector


def test_gradients_reach_every_parameter() -> None:
    encoder = _tiny().train()
    encoder(MotionSpec(12, max_frames=64).dummy_batch(3)).sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_bad_batches_are_refused() -> None:
    encoder, spec = _tiny(), MotionSpec(12, max_frames=64)
    with pytest.raises(ValueError, match="expected 12 features"):
        encoder(MotionSpec(5).collate([torch.randn(3, 5)]))
    batch = spec.collate([torch.randn(3, 12)])
    batch.mask[:] = False
    with pytest.raises(ValueError, match="at least one unmasked frame"):
        encoder(batch)


def test_sinusoidal_positions_follow_the_formula() -> None:
    table = sinusoidal_positions(5, 6)
    assert table[0, 0] == 0
    assert table[0, 1] == 1
    assert table[3, 2] == pytest.approx(torch.sin(torch.tensor(3 / 10000 ** (2 / 6))).item(), rel=1e-5)
    assert table[3, 3] == pytest.approx(torch.cos(torch.tensor(3 / 10000 ** (2 / 6))).item(), rel=1e-5)
