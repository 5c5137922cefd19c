"""A unibind model as an mteb encoder: the protocol's shapes, and mteb's retrieval scores on the SciFact fixture
against unibind's own dense BEIR evaluation (VectorIndex exact search and unibind's trec_eval-style metrics;
mteb scores with its cos_sim, torch.topk and pytrec_eval, so the two sides share only the embeddings)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unibind.alignment import IdentityAligner, MoEAligner
from unibind.datasets.beir import DOCUMENT_SPEC, QUERY_SPEC, judged_queries, read_beir
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import HFTextEncoder
from unibind.evaluation.embedding import mix
from unibind.evaluation.mteb_encoder import MtebEncoder, local_beir_task, run_mteb_retrieval
from unibind.metrics.ir import mean_metrics, ranked
from unibind.retrieval import VectorIndex
from unibind.retrieval.first_stage import DenseFirstStage

mteb = pytest.importorskip("mteb")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "beir_scifact"


@pytest.fixture(scope="module")
def scifact_model(tiny_scifact_bert_dir: Path) -> UnifiedEmbedder:
    """A random-init unibind model: the tiny SciFact BERT (its weights drawn here from seed 0, so the scores do not
    depend on which tests ran first), a linear head and a 4-expert MoE aligner."""
    torch.manual_seed(0)
    text = HFTextEncoder(str(tiny_scifact_bert_dir), pooling="mean", max_length=256, load_weights=False)
    aligner = MoEAligner(32, num_experts=4, top_k=2, modalities=["text"])
    return UnifiedEmbedder({"text": text}, embed_dim=32, aligner=aligner).eval()


def test_local_beir_task_reads_the_folder() -> None:
    task = local_beir_task(FIXTURE, "test")
    task.load_data()
    split = task.dataset["default"]["test"]
    data = read_beir(FIXTURE, "test")
    assert task.metadata.name == "LocalBEIR-beir_scifact"
    assert task.metadata.main_score == "ndcg_at_10"
    assert split["corpus"]["id"] == list(data.corpus)
    assert sorted(split["queries"]["id"]) == judged_queries(data)
    assert split["relevant_docs"] == {q: data.qrels[q] for q in judged_queries(data)}


def test_encoder_protocol_shapes(scifact_model: UnifiedEmbedder) -> None:
    from mteb._create_dataloaders import create_dataloader
    from mteb.models import EncoderProtocol, SearchProtocol
    from mteb.types import PromptType

    encoder = MtebEncoder(scifact_model, batch_size=4)
    assert isinstance(encoder, EncoderProtocol)
    assert not isinstance(encoder, SearchProtocol)  # mteb wraps it in its own exact search
    meta = encoder.mteb_model_meta
    assert (meta.embed_dim, meta.similarity_fn_name, meta.modalities) == (32, "cosine", ["text"])

    task = local_beir_task(FIXTURE, "test")
    task.load_data()
    corpus = task.dataset["default"]["test"]["corpus"].select(range(10))
    loader = create_dataloader(corpus, task_metadata=task.metadata, prompt_type=PromptType.document, batch_size=3)
    vectors = encoder.encode(
        loader, task_metadata=task.metadata, hf_split="test", hf_subset="default", prompt_type=PromptType.document
    )
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (10, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    data = read_beir(FIXTURE, "test")
    texts = [data.document_text(doc) for doc in corpus["id"]]  # in input order, title + " " + text
    expected = scifact_model.encode(texts, "text", batch_size=3, convert_to="numpy")
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    similarity = torch.as_tensor(encoder.similarity(vectors[:2], vectors))
    assert similarity.shape == (2, 10)
    torch.testing.assert_close(similarity, torch.from_numpy(vectors[:2] @ vectors.T), atol=1e-5, rtol=0)
    assert encoder.similarity_pairwise(vectors[:4], vectors[:4]).shape == (4,)


def test_encoder_embeds_images_and_fuses_text_with_images(tiny_embedder: UnifiedEmbedder) -> None:
    encoder = MtebEncoder(tiny_embedder.eval(), batch_size=2)
    assert encoder.mteb_model_meta.modalities == ["text", "image"]
    images = [Image.new("RGB", (40, 30), colour) for colour in [(200, 0, 0), (0, 200, 0), (0, 0, 200)]]
    texts = ["a red square", "", "a blue circle"]  # the second input is an image alone
    image_only = encoder.encode([{"image": images[:2]}, {"image": images[2:]}], task_metadata=None)
    expected_images = tiny_embedder.encode(images, "image")
    np.testing.assert_allclose(image_only, expected_images.numpy(), atol=1e-5)
    mixed = encoder.encode([{"text": texts, "image": images}])
    text_vectors = tiny_embedder.encode([texts[0], texts[2]], "text")
    expected = torch.stack(
        [
            mix(text_vectors[:1], expected_images[:1])[0],
            expected_images[1],
            mix(text_vectors[1:], expected_images[2:])[0],
        ]
    )
    assert mixed.dtype == np.float32
    np.testing.assert_allclose(mixed, expected.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="no image encoder"):
        MtebEncoder(UnifiedEmbedder({"text": tiny_embedder.encoders["text"]}, 32, IdentityAligner(32))).encode(
            [{"image": images}]
        )


def test_mteb_scores_match_unibind_dense_evaluation(scifact_model: UnifiedEmbedder, tmp_path: Path) -> None:
    scores = run_mteb_retrieval(scifact_model, FIXTURE, "test", batch_size=32, prediction_folder=tmp_path)

    # unibind's side: the dense first stage of `unibind eval beir` (exact float32 VectorIndex, top 100) over the
    # model's embeddings, scored by unibind.metrics.ir
    data = read_beir(FIXTURE, "test")
    query_ids = judged_queries(data)
    doc_ids = list(data.corpus)
    docs = scifact_model.encode([data.document_text(d) for d in doc_ids], "text", 32, specs={"text": DOCUMENT_SPEC})
    queries = scifact_model.encode([data.queries[q] for q in query_ids], "text", 32, specs={"text": QUERY_SPEC})
    index = VectorIndex(docs.shape[1], scoring="float32")
    index.add(doc_ids, docs, "text")
    run = DenseFirstStage(doc_ids, index, dict(zip(query_ids, queries, strict=True))).run(query_ids, k=100)
    ours = mean_metrics(run, data.qrels)

    assert 0.0 < ours["ndcg@10"] < 1.0  # neither side is trivially 0 or 1
    assert 0.0 < ours["recall@100"] < 1.0
    assert scores["main_score"] == scores["ndcg_at_10"]
    assert scores["ndcg_at_10"] == pytest.approx(ours["ndcg@10"], abs=1e-4)
    assert scores["recall_at_100"] == pytest.approx(ours["recall@100"], abs=1e-4)
    assert scores["mrr_at_10"] == pytest.approx(ours["mrr@10"], abs=1e-4)

    # the rankings behind the scores: mteb's top 10 per query is unibind's
    (predictions,) = tmp_path.glob("*_predictions.json")
    mteb_run = json.loads(predictions.read_text())["default"]["test"]
    assert sorted(mteb_run) == query_ids
    for query in query_ids:
        assert ranked(mteb_run[query])[:10] == ranked(run[query])[:10]
