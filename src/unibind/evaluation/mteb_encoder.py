"""Run a unibind model as an `mteb <https://github.com/embeddings-benchmark/mteb>`_ (2.x) encoder, and a local
BEIR folder as an mteb retrieval task, offline.

- :class:`MtebEncoder` implements mteb's ``EncoderProtocol``: ``encode`` takes a ``DataLoader`` of batches
  (dicts with a ``text`` list, an ``image`` list of PIL images, or both) plus the task's metadata, split, subset
  and prompt type, and returns ``np.ndarray [N, D]`` float32 unit vectors in input order; ``similarity`` is
  cosine (:func:`mteb.similarity_functions.cos_sim`), as ``mteb_model_meta`` declares. Texts go through
  ``model.encode(..., modality="text")``, images through ``modality="image"``; an input with both a text and an
  image is mixed as :func:`unibind.evaluation.embedding.mix` does (MMEB). Queries and documents are embedded
  alike: unibind models take no prompts, so the prompt type is not used.
- :func:`local_beir_task` builds an ``AbsTaskRetrieval`` whose data are read from ``corpus.jsonl``,
  ``queries.jsonl`` and ``qrels/<split>.tsv`` by :func:`unibind.datasets.beir.read_beir` (its checks and text
  normalisation), never from the hub. Its queries are those with a relevant document, as ``unibind eval beir``
  evaluates.
- :func:`run_mteb_retrieval` runs ``mteb.evaluate`` on such a task (no result cache is written) and returns
  mteb's scores (``ndcg_at_10``, ``recall_at_100``, ``mrr_at_10``, ``main_score``, ...).

mteb is imported only when these are used, so this module imports without it (``pip install mteb``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from unibind.evaluation.embedding import mix
from unibind.modalities import TextSpec
from unibind.modalities.text import ControlChars

if TYPE_CHECKING:
    from mteb.abstasks import AbsTaskRetrieval
    from mteb.models import ModelMeta

    from unibind.embedder import UnifiedEmbedder

#: Texts as mteb hands them over: no length limit (the encoders truncate), empty documents kept, control
#: characters removed rather than refused (a benchmark run should not stop on one odd character).
MTEB_TEXT_SPEC = TextSpec(max_chars=None, control_chars="strip", allow_empty=True)
#: The input modalities mteb may pass that this adapter can embed.
SUPPORTED_MODALITIES = ("text", "image")


class MtebEncoder:
    """A :class:`~unibind.embedder.UnifiedEmbedder` behind mteb's ``EncoderProtocol``.

    Args:
        model: the unibind model; it needs an encoder for each modality a task passes (text, image).
        batch_size: inputs per ``model.encode`` forward pass (mteb's own ``batch_size`` sizes the DataLoader).
        dim: Matryoshka size to truncate to (``None``: the model's ``embed_dim``); see ``UnifiedEmbedder.encode``.
        name: the ``organization/model`` name mteb records in its results.
        revision: the revision mteb records.
        image_weight: ``w`` of ``normalize(w * image + (1 - w) * text)`` for inputs holding both.
    """

    def __init__(
        self,
        model: UnifiedEmbedder,
        batch_size: int = 32,
        dim: int | None = None,
        name: str = "unibind/unified-embedder",
        revision: str = "local",
        image_weight: float = 0.5,
    ) -> None:
        if "text" not in model.modalities and "image" not in model.modalities:
            raise ValueError(f"the model has neither a text nor an image encoder (it has {model.modalities})")
        self.model = model
        self.batch_size = batch_size
        self.dim = dim
        self.name = name
        self.revision = revision
        self.image_weight = image_weight
        self._meta: ModelMeta | None = None

    @property
    def embed_dim(self) -> int:
        return self.dim or self.model.embed_dim

    @property
    def mteb_model_meta(self) -> ModelMeta:
        """mteb's model metadata: name, size, modalities, ``embed_dim`` and cosine similarity."""
        if self._meta is None:
            from mteb.models import ModelMeta

            text = self.model.encoders["text"] if "text" in self.model.modalities else None
            self._meta = ModelMeta(
                loader=None,
                name=self.name,
                revision=self.revision,
                release_date=None,
                languages=None,
                n_parameters=sum(p.numel() for p in self.model.parameters()),
                memory_usage_mb=None,
                max_tokens=getattr(text, "max_length", None),
                embed_dim=self.embed_dim,
                license=None,
                open_weights=None,
                public_training_code=None,
                public_training_data=None,
                framework=["PyTorch"],
                similarity_fn_name="cosine",
                use_instructions=False,
                training_datasets=None,
                modalities=[m for m in SUPPORTED_MODALITIES if m in self.model.modalities],
            )
        return self._meta

    def encode(
        self,
        inputs: Any,
        *,
        task_metadata: Any = None,
        hf_split: str = "",
        hf_subset: str = "",
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Unit vectors ``[N, D]`` (float32) of every input of ``inputs`` (mteb's DataLoader of batches), in order.

        ``task_metadata``, ``hf_split``, ``hf_subset`` and ``prompt_type`` are accepted as mteb passes them and not
        used; of ``kwargs`` (mteb's encode kwargs) only ``show_progress_bar`` is.
        """
        from tqdm.auto import tqdm

        chunks = [
            self._encode_batch(batch)
            for batch in tqdm(inputs, desc="unibind encode", disable=not kwargs.get("show_progress_bar", False))
        ]
        if not chunks:
            return np.empty((0, self.embed_dim), dtype=np.float32)
        return torch.cat(chunks).numpy().astype(np.float32, copy=False)

    def _encode_batch(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """``[B, D]`` for one collated mteb batch: text only, image only, or both mixed per row."""
        unsupported = [key for key in ("audio", "video") if key in batch]
        if unsupported:
            raise ValueError(f"MtebEncoder embeds text and images; this task passes {unsupported}")
        texts, images = batch.get("text"), batch.get("image")
        if texts is None and images is None:
            raise ValueError(f"an mteb batch without 'text' or 'image' (keys: {sorted(batch)})")
        size = len(texts if texts is not None else images)
        if images is None:
            return self._embed("text", list(texts))
        text_rows = [i for i in range(size) if texts is not None and texts[i]]
        image_rows = [i for i in range(size) if images[i] is not None]
        text = (
            dict(zip(text_rows, self._embed("text", [texts[i] for i in text_rows]), strict=True)) if text_rows else {}
        )
        image = dict(zip(image_rows, self._embed("image", [images[i] for i in image_rows]), strict=True))
        rows = []
        for i in range(size):
            if i in text and i in image:
                rows.append(mix(text[i][None], image[i][None], self.image_weight)[0])
            elif i in text or i in image:
                rows.append(text.get(i, image.get(i)))
            else:
                raise ValueError(f"input {i} of an mteb batch has neither a text nor an image")
        return torch.stack(rows)

    def _embed(self, modality: str, items: list[Any]) -> torch.Tensor:
        """``model.encode`` of one modality's items: unit vectors ``[n, D]``."""
        if modality not in self.model.modalities:
            raise ValueError(f"the task passes {modality} inputs but the model has no {modality} encoder")
        specs = {"text": MTEB_TEXT_SPEC} if modality == "text" else None
        return self.model.encode(items, modality, self.batch_size, dim=self.dim, show_progress_bar=False, specs=specs)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """Cosine similarity ``[N1, N2]`` (mteb's ``cos_sim``; the vectors are unit length, so also the dot product)."""
        from mteb.similarity_functions import cos_sim

        return cos_sim(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """Cosine similarity ``[N]`` of row pairs (mteb's ``pairwise_cos_sim``)."""
        from mteb.similarity_functions import pairwise_cos_sim

        return pairwise_cos_sim(embeddings1, embeddings2)


def local_beir_task(
    data_dir: str | Path,
    split: str = "test",
    name: str | None = None,
    languages: tuple[str, ...] = ("eng-Latn",),
    control_chars: ControlChars = "strip",
) -> AbsTaskRetrieval:
    """An mteb retrieval task (text to text, main score ``ndcg_at_10``) over a BEIR folder, read offline by
    :func:`~unibind.datasets.beir.read_beir`; ``name`` defaults to ``LocalBEIR-<folder name>``.

    The data are read when mteb loads the task, and again if mteb unloads and reloads it. Each call makes its
    own ``AbsTaskRetrieval`` subclass: mteb keeps a task's metadata on its class.
    """
    from mteb import TaskMetadata
    from mteb.abstasks import AbsTaskRetrieval

    root = Path(data_dir).resolve()
    metadata = TaskMetadata(
        name=name or f"LocalBEIR-{root.name}",
        description=f"BEIR-layout retrieval read from {root} (corpus.jsonl, queries.jsonl, qrels/{split}.tsv)",
        dataset={"path": str(root), "revision": "local"},
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=list(languages),
        main_score="ndcg_at_10",
    )

    def load_data(self: AbsTaskRetrieval, num_proc: int | None = None, **kwargs: Any) -> None:
        if not self.data_loaded:
            self.dataset = {"default": {split: _beir_split(root, split, control_chars)}}
            self.data_loaded = True

    task_class = type(
        "LocalBeirRetrieval",
        (AbsTaskRetrieval,),
        {"metadata": metadata, "load_data": load_data, "__module__": __name__, "__doc__": local_beir_task.__doc__},
    )
    return task_class()


def _beir_split(root: Path, split: str, control_chars: ControlChars) -> dict[str, Any]:
    """mteb's ``RetrievalSplitData`` of one split: corpus (id, title, text), judged queries (id, text), qrels."""
    from datasets import Dataset
    from unibind.datasets.beir import judged_queries, read_beir

    data = read_beir(root, split, control_chars)
    query_ids = set(judged_queries(data))
    corpus = Dataset.from_dict(
        {
            "id": list(data.corpus),
            "title": [doc["title"] for doc in data.corpus.values()],
            "text": [doc["text"] for doc in data.corpus.values()],
        }
    )
    ordered = [q for q in data.queries if q in query_ids]  # queries.jsonl order
    queries = Dataset.from_dict({"id": ordered, "text": [data.queries[q] for q in ordered]})
    qrels = {q: dict(data.qrels[q]) for q in ordered}
    return {"corpus": corpus, "queries": queries, "relevant_docs": qrels, "top_ranked": None}


def run_mteb_retrieval(
    model: UnifiedEmbedder | MtebEncoder,
    data_dir: str | Path,
    split: str = "test",
    batch_size: int = 32,
    name: str | None = None,
    show_progress_bar: bool = False,
    prediction_folder: str | Path | None = None,
) -> dict[str, float]:
    """mteb's retrieval scores of ``model`` on the BEIR folder ``data_dir`` (:func:`local_beir_task`), e.g.
    ``ndcg_at_10``, ``recall_at_100``, ``mrr_at_10`` and ``main_score`` (= ``ndcg_at_10``).

    A :class:`~unibind.embedder.UnifiedEmbedder` is wrapped in :class:`MtebEncoder` with ``batch_size``;
    ``batch_size`` also sizes mteb's DataLoader. Nothing goes to mteb's result cache; ``prediction_folder``
    keeps mteb's per-query rankings.
    """
    import mteb

    encoder = model if isinstance(model, MtebEncoder) else MtebEncoder(model, batch_size=batch_size)
    task = local_beir_task(data_dir, split, name)
    result = mteb.evaluate(
        encoder,
        task,
        encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
        cache=None,
        overwrite_strategy="always",
        prediction_folder=prediction_folder,
        show_progress_bar=show_progress_bar,
        co2_tracker=False,
    )
    if result.exceptions:
        raise RuntimeError(f"mteb failed on {task.metadata.name}: {result.exceptions}")
    (scores,) = result.task_results[0].scores[split]
    return {key: float(value) for key, value in scores.items() if isinstance(value, int | float)}
