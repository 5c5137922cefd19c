import torch

from unibind.alignment import IdentityAligner, ProjectionHead


def test_linear_and_mlp_heads() -> None:
    linear, mlp = ProjectionHead(10, 4), ProjectionHead(10, 4, hidden_dim=8)
    x = torch.randn(3, 10)
    assert linear(x).shape == mlp(x).shape == (3, 4)
    assert "in_dim=10, out_dim=4, hidden_dim=None" in repr(linear)
    assert len(list(mlp.parameters())) == 4


def test_identity_aligner_normalises_only() -> None:
    x = torch.randn(3, 4)
    torch.testing.assert_close(IdentityAligner(4)(x, "text").embedding, torch.nn.functional.normalize(x, dim=-1))
