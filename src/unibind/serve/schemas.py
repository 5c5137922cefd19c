"""Request and response bodies of the ``unibind serve`` API (they make its OpenAPI schema).

The request models' ``top_k`` range and query length are the server's limits: :func:`request_models` makes
each app its subclasses of :class:`EmbedRequest` and :class:`SearchRequest`; response models are fixed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.fields import FieldInfo

from unibind.modalities import Modality
from unibind.serve.limits import Limits

UploadModality = Literal["image", "audio", "motion"]
MAX_ID_CHARS = 1000


class EmbedRequest(BaseModel):
    """Embed a text, or return the stored vector of an indexed item: give exactly one of the two."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["item_id"]}]})
    text: str | None = Field(None, min_length=1, description="a text query")
    item_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS, description="an indexed item's id")

    @model_validator(mode="after")
    def _one_query(self) -> EmbedRequest:
        if (self.text is None) == (self.item_id is None):
            raise ValueError("give exactly one of text and item_id")
        return self


class SearchRequest(EmbedRequest):
    """Search the index with a text or with an indexed item ("more like this"; the item itself is left out)."""

    modalities: list[Modality] | None = Field(
        None, min_length=1, max_length=len(Modality), description="only items of these modalities (default all)"
    )
    top_k: int = Field(10, ge=1, description="how many results")
    rerank: bool = Field(False, description="rerank text results with E2Rank (text query, modalities ['text'])")


def request_models(limits: Limits) -> tuple[type[EmbedRequest], type[SearchRequest]]:
    """``(EmbedRequest, SearchRequest)`` subclasses with ``limits`` in their field constraints."""
    text = _bounded(EmbedRequest, "text", max_length=limits.max_query_chars)
    top_k = _bounded(SearchRequest, "top_k", le=limits.max_top_k)
    embed = create_model("EmbedRequest", __base__=EmbedRequest, __doc__=EmbedRequest.__doc__, text=text)
    search = create_model(
        "SearchRequest", __base__=SearchRequest, __doc__=SearchRequest.__doc__, text=text, top_k=top_k
    )
    return embed, search


def _bounded(model: type[BaseModel], name: str, **bounds: Any) -> tuple[Any, FieldInfo]:
    """The field ``name`` of ``model`` with the extra constraints ``bounds``, as a ``create_model`` definition."""
    field = model.model_fields[name]
    return Annotated[field.annotation, Field(**bounds)], field


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every 4xx answer: ``detail`` names the field and the limit or the problem; ``errors`` lists each field."""

    detail: str
    errors: list[FieldError] = []


class NeighbourOut(BaseModel):
    text: str
    relation: str | None = None
    id: str | None = Field(None, description="the neighbour's index id, when it is indexed")


class ItemOut(BaseModel):
    """An indexed item as a front end shows it."""

    id: str
    modality: str
    text: str | None = None
    label: str | None = None
    media_url: str | None = Field(None, description="GET it for the item's image, audio or motion GIF")
    media_type: str | None = None
    neighbours: list[NeighbourOut] = []


class HitOut(ItemOut):
    rank: int
    score: float = Field(description="cosine similarity (E2Rank's score when reranked)")
    first_stage_score: float | None = Field(None, description="the cosine similarity before reranking")


class QueryOut(BaseModel):
    kind: Literal["text", "item", "file"]
    modality: str
    item_id: str | None = None


class SearchOut(BaseModel):
    query: QueryOut
    modalities: list[str]
    top_k: int
    reranked: bool
    took_ms: float
    results: list[HitOut]


class EmbedOut(BaseModel):
    modality: str
    dim: int
    vector: list[float]


class InfoOut(BaseModel):
    """What the server can do: the model's query modalities, the index, reranking and the limits."""

    query_modalities: list[str]
    index_modalities: dict[str, int] = Field(description="items per modality")
    dim: int
    reranker: bool
    limits: dict
