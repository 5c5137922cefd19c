import math

import pytest
import torch

from unibind.alignment import IdentityAligner, ProjectionHead


def _gelu(z: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU, the default of ``nn.GELU``."""
    return 0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))


def test_linear_and_mlp_heads() -> None:
    linear, mlp = ProjectionHead(10, 4), ProjectionHead(10, 4, hidden_dim=8)
    x = torch.randn(3, 10)
    assert linear(x).shape == mlp(x).shape == (3, 4)
    assert "in_dim=10, out_dim=4, hidden_dim=None" in repr(linear)
    assert len(list(mlp.parameters())) == 4


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_linear_head_is_affine_map_of_its_parameters(dropout: float) -> None:
    """``x @ W.T + b`` with no normalisation (dropout is the identity in eval mode)."""
    head = ProjectionHead(10, 4, dropout=dropout).eval()
    weight, bias = (p.detach() for p in head.parameters())
    assert weight.shape == (4, 10)
    assert bias.shape == (4,)
    x = torch.randn(5, 10)
    expected = x @ weight.T + bias
    with torch.no_grad():
        out = head(x)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out.norm(dim=-1), torch.ones(5))  # the head itself does not normalise


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_mlp_head_is_linear_gelu_linear(dropout: float) -> None:
    """``GELU(x @ W1.T + b1) @ W2.T + b2`` (exact GELU, dropout the identity in eval mode)."""
    head = ProjectionHead(10, 4, hidden_dim=8, dropout=dropout).eval()
    w1, b1, w2, b2 = (p.detach() for p in head.parameters())
    assert (w1.shape, b1.shape, w2.shape, b2.shape) == ((8, 10), (8,), (4, 8), (4,))
    x = torch.randn(5, 10)
    expected = _gelu(x @ w1.T + b1) @ w2.T + b2
    with torch.no_grad():
        torch.testing.assert_close(head(x), expected)


def test_identity_aligner_normalises_only() -> None:
    x = torch.randn(3, 4)
    torch.testing.assert_close(IdentityAligner(4)(x, "text").embedding, torch.nn.functional.normalize(x, dim=-1))
