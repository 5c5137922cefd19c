"""Shared fixtures: tiny random-init models, small real files, and no network access.

Every test runs offline (``HF_HUB_OFFLINE=1``) on tiny models, in the spirit of timm's ``test_vit``
and the lightning-hydra-template's forced tiny CPU runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import pytest
import torch

from unibind.alignment import MoEAligner
from unibind.datasets import write_shapes_dataset
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, OpenClipImageEncoder, OpenClipTextEncoder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shapes corpus: 2 train and 1 val image per (colour, shape) concept."""
    root = tmp_path_factory.mktemp("shapes")
    write_shapes_dataset(root, {"train": 2, "val": 1}, size=32, seed=1)
    return root


@pytest.fixture
def tiny_embedder() -> UnifiedEmbedder:
    encoders = {
        "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG),
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
    }
    return UnifiedEmbedder(
        encoders, embed_dim=32, aligner=MoEAligner(32, num_experts=4, top_k=2, modalities=["image", "text"])
    )


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init 2-layer BERT with a 60-word WordPiece vocabulary, saved as a local HF directory."""

    root = tmp_path_factory.mktemp("tiny_bert")
    words = [
        "a",
        "the",
        "cat",
        "dog",
        "red",
        "blue",
        "green",
        "circle",
        "square",
        "photo",
        "of",
        "on",
        "is",
        "runs",
        "park",
        "man",
        "woman",
        "food",
        "eats",
        "movie",
    ]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    return _save_tiny_bert(root, vocab)


def _save_tiny_bert(root: Path, vocab: list[str]) -> Path:
    """A random-init 2-layer, 32-wide BERT with WordPiece ``vocab`` saved at ``root``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    # transformers 5 builds the WordPiece model from a dict (vocab_file alone leaves only the special tokens)
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(root)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(root)
    return root


@pytest.fixture(scope="session")
def tiny_scifact_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init 2-layer BERT whose WordPiece vocabulary holds the SciFact fixture's 500 commonest words,
    letters and digits (no text becomes all ``[UNK]``, so documents get distinct embeddings)."""
    import re
    from collections import Counter

    fixture = REPO / "tests" / "fixtures" / "beir_scifact"
    text = (fixture / "corpus.jsonl").read_text(encoding="utf-8") + (fixture / "queries.jsonl").read_text("utf-8")
    counts = Counter(re.findall(r"[a-z]+", text.lower()))
    characters = "abcdefghijklmnopqrstuvwxyz0123456789"
    words = [w for w, _ in counts.most_common(500) if w not in characters]
    pieces = [*characters, *(f"##{c}" for c in characters)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *pieces, *".,;:()-%=/"]
    return _save_tiny_bert(tmp_path_factory.mktemp("tiny_scifact_bert"), vocab)


@pytest.fixture(scope="session")
def trained_fixture_model(tmp_path_factory: pytest.TempPathFactory, tiny_scifact_bert_dir: Path) -> tuple[Path, str]:
    """``unibind train e2rank`` for 2 epochs of the tiny SciFact BERT on the SciFact fixture's 20 judged queries
    (4 held out): the saved folder and what the command printed."""
    import contextlib
    import io

    from unibind.cli import main

    root = tmp_path_factory.mktemp("e2rank")
    fixture = REPO / "tests" / "fixtures" / "beir_scifact"
    argv = ["train", "e2rank", "--data", str(fixture), "--split", "test", "--encoder", str(tiny_scifact_bert_dir)]
    argv += ["--out", str(root / "model"), "--epochs", "2", "--batch-size", "8"]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("UNIBIND_CACHE", str(root / "cache"))
        assert main(argv) == 0
    return root / "model", printed.getvalue()
