"""E2Rank training pieces: RankNet by hand, teacher lists, and a few optimisation steps that lower the loss."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from unibind.evaluation.beir import read_beir
from unibind.rerank.training import E2RankTask, RankingExample, ranknet_loss, teacher_examples

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "beir_scifact"


def test_ranknet_by_hand() -> None:
    scores = torch.tensor([2.0, 1.0, 3.0])  # teacher order: 0, 1, 2
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = sum(F.softplus(-(scores[i] - scores[j]) / 0.5) for i, j in pairs) / 3
    assert ranknet_loss(scores, 0.5).item() == pytest.approx(expected.item())
    assert ranknet_loss(torch.tensor([3.0, 2.0, 1.0]), 0.01) < 1e-6  # already in teacher order


def test_teacher_lists_put_judged_documents_first() -> None:
    data = read_beir(FIXTURE)
    query = sorted(data.qrels)[0]
    relevant = next(iter(data.qrels[query]))
    others = [d for d in data.corpus if d != relevant][:5]
    first_stage = {query: {**{d: 10.0 - i for i, d in enumerate(others)}, relevant: 1.0}}
    examples = teacher_examples(data, first_stage, depth=4)
    example = next(e for e in examples if e.query == data.queries[query])
    assert example.candidates == [relevant, *others[:3]]
    assert example.texts[0] == data.document_text(relevant)


def test_a_few_steps_lower_the_loss(tiny_bert_dir: Path) -> None:
    from unibind.encoders import HFTextEncoder

    torch.manual_seed(0)
    encoder = HFTextEncoder(str(tiny_bert_dir), pooling="mean", max_length=64)
    docs = {f"d{i}": F.normalize(torch.randn(32), dim=0) for i in range(6)}
    examples = [
        RankingExample("the cat", ["d0", "d1", "d2"], ["a cat", "the dog", "a red man"], ["d0"]),
        RankingExample("a dog", ["d3", "d4", "d5"], ["the dog runs", "a cat", "food"], ["d3"]),
    ]
    task = E2RankTask(encoder, docs, num_input_docs=3, lr=1e-3)
    optimizer = task.configure_optimizers()
    task.log_dict = lambda *args, **kwargs: None  # no Trainer attached
    first = task.training_step(examples, 0)
    for _ in range(20):
        optimizer.zero_grad()
        task.training_step(examples, 0).backward()
        optimizer.step()
    assert task.training_step(examples, 0) < first


def test_train_command_saves_a_loadable_encoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unibind.cli import main
    from unibind.encoders import HFTextEncoder

    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    argv = ["train", "e2rank", "--data", str(FIXTURE), "--split", "test", "--encoder", str(tiny_bert_dir)]
    assert main([*argv, "--out", str(tmp_path / "e2rank"), "--batch-size", "8"]) == 0
    assert "trained on 20 queries, 3 steps" in capsys.readouterr().out
    reloaded = HFTextEncoder(str(tmp_path / "e2rank"), pooling="mean", max_length=64)
    assert reloaded(["the cat"]).shape == (1, 32)
