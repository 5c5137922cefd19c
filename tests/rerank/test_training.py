"""E2Rank training: RankNet by hand, teacher lists and hard negatives, the validation split, a few optimisation
steps that lower the loss, and `unibind train e2rank` end to end on the SciFact fixture."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from unibind.datasets.beir import read_beir
from unibind.rerank.training import (
    TRAINING_RECORD,
    E2RankTask,
    RankingExample,
    ranknet_loss,
    read_training_record,
    split_queries,
    teacher_examples,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "beir_scifact"


def test_ranknet_by_hand() -> None:
    scores = torch.tensor([2.0, 1.0, 3.0])  # teacher order: 0, 1, 2
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = sum(F.softplus(-(scores[i] - scores[j]) / 0.5) for i, j in pairs) / 3
    assert ranknet_loss(scores, 0.5).item() == pytest.approx(expected.item())
    assert ranknet_loss(torch.tensor([3.0, 2.0, 1.0]), 0.01) < 1e-6  # already in teacher order


def test_teacher_lists_put_judged_documents_first_and_mine_unjudged_negatives() -> None:
    data = read_beir(FIXTURE)
    query = sorted(data.qrels)[0]
    relevant = next(iter(data.qrels[query]))
    others = [d for d in data.corpus if d != relevant][:5]
    teacher = {query: {**{d: 10.0 - i for i, d in enumerate(others)}, relevant: 1.0}}
    prompt_stage = {query: {d: float(i) for i, d in enumerate(others)}}  # the reverse order
    (example,) = teacher_examples(data, teacher, [prompt_stage], [query], depth=4, negatives_depth=3)
    assert example.query == data.queries[query]
    assert example.candidates == [relevant, *others[:3]]
    assert example.positives == [relevant]
    assert example.negatives == others[:3]
    assert example.prompt_lists == [others[::-1]]
    assert teacher_examples(data, teacher, [], ["no-such-query"]) == []  # no judged document: no example


def test_validation_split_is_seeded_and_disjoint() -> None:
    ids = [str(i) for i in range(50)]
    train, held = split_queries(ids, 0.2, seed=3)
    assert len(held) == 10
    assert len(train) == 40
    assert not set(train) & set(held)
    assert sorted(train + held) == sorted(ids)
    assert split_queries(ids, 0.2, seed=3) == (train, held)
    assert split_queries(ids, 0.2, seed=4) != (train, held)
    assert split_queries(ids, 0.0) == (sorted(ids), [])
    with pytest.raises(ValueError, match="validation fraction"):
        split_queries(ids, 1.0)


def _task(tiny_bert_dir: Path) -> tuple[E2RankTask, list[RankingExample]]:
    from unibind.encoders import HFTextEncoder

    torch.manual_seed(0)
    encoder = HFTextEncoder(str(tiny_bert_dir), pooling="mean", max_length=64)
    texts = ["a cat", "the dog", "a red man", "the dog runs", "a cat eats", "food"]
    documents = {f"d{i}": text for i, text in enumerate(texts)}
    with torch.no_grad():
        corpus = F.normalize(encoder(texts), dim=-1)
    examples = [
        RankingExample("the cat", ["d0", "d1", "d2"], ["d0"], ["d1"], [["d1", "d0", "d2"]]),
        RankingExample("a dog", ["d3", "d4", "d5"], ["d3"], ["d4"], [["d3", "d4", "d5"]]),
    ]
    return E2RankTask(encoder, documents, corpus, num_input_docs=3, lr=1e-3, progress=False), examples


def test_a_few_steps_lower_the_loss_and_move_both_sides(tiny_bert_dir: Path) -> None:
    task, examples = _task(tiny_bert_dir)
    optimizer = task.configure_optimizers()
    task.log_dict = lambda *args, **kwargs: None  # no Trainer attached
    before = task.embed_corpus()
    first = task.training_step(examples, 0)
    for _ in range(20):
        optimizer.zero_grad()
        task.training_step(examples, 0).backward()
        optimizer.step()
    assert task.training_step(examples, 0) < first
    assert not torch.allclose(task.embed_corpus(), before)  # the document side is trained too


def test_validation_keeps_the_best_epoch(tiny_bert_dir: Path) -> None:
    task, _ = _task(tiny_bert_dir)
    data = read_beir(FIXTURE)
    task.documents = {doc: data.document_text(doc) for doc in data.corpus}
    task.rows = {doc: i for i, doc in enumerate(task.documents)}
    task.corpus = task.embed_corpus()
    query_ids = sorted(data.qrels)[:6]
    task.validation = (data, query_ids)
    record = task.validate(0)
    expected = {"epoch", "dense ndcg@10", "dense + E2Rank ndcg@10", "selection", "interpolation"}
    assert set(record) == expected | {"dense + E2Rank interpolated ndcg@10"}
    assert record["dense + E2Rank interpolated ndcg@10"] >= record["dense + E2Rank ndcg@10"]  # a = 0 is on the grid
    assert record["selection"] == pytest.approx((record["dense ndcg@10"] + record["dense + E2Rank ndcg@10"]) / 2)
    kept = task.best
    with torch.no_grad():
        for parameter in task.encoder.parameters():
            parameter.mul_(0.0)  # a model that scores every document alike cannot beat the first
    task.corpus = task.embed_corpus()
    task.validate(1)
    assert task.best is kept
    assert [r["epoch"] for r in task.history] == [0, 1]


def test_train_command_saves_the_chosen_model_and_its_record(
    trained_fixture_model: tuple[Path, str], tiny_scifact_bert_dir: Path, tiny_bert_dir: Path
) -> None:
    from unibind.encoders import HFTextEncoder

    folder, printed = trained_fixture_model
    record = read_training_record(folder)
    assert record == json.loads((folder / TRAINING_RECORD).read_text())
    assert read_training_record(tiny_bert_dir) is None
    held = record["validation_queries"]
    assert len(held) == 4
    assert record["examples"] == 16
    assert f"trained on 16 queries (4 held out), {record['steps']} steps" in printed
    assert [r["epoch"] for r in record["history"]] == [0, 1, 2]
    chosen = max(record["history"], key=lambda r: r["selection"])
    assert record["chosen_epoch"] == chosen["epoch"]
    assert record["interpolation"] == chosen["interpolation"]
    reloaded = HFTextEncoder(str(folder), pooling="mean", max_length=64)
    assert reloaded(["the cat"]).shape == (1, 32)
    starting = HFTextEncoder(str(tiny_scifact_bert_dir), pooling="mean", max_length=64)
    same = all(torch.equal(a, b) for a, b in zip(reloaded.parameters(), starting.parameters(), strict=True))
    assert same == (record["chosen_epoch"] == 0)  # the kept weights are the chosen epoch's


def test_unknown_teacher_is_refused(tmp_path: Path) -> None:
    from unibind.rerank.training import train_e2rank

    with pytest.raises(ValueError, match="unknown teacher 'oracle'"):
        train_e2rank(FIXTURE, tmp_path / "out", teacher="oracle")
