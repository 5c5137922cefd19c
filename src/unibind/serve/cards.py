"""Indexed items as the API answers them: cards and hits as response bodies, unknown ids as 404."""

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException

from unibind.retrieval.payload import MEDIA_TYPES, ItemCard
from unibind.serve.engine import Hit, SearchEngine
from unibind.serve.schemas import HitOut, NeighbourOut


def item_out(card: ItemCard) -> dict[str, Any]:
    """The fields of :class:`~unibind.serve.schemas.ItemOut` for ``card``, with its media URL and type."""
    return {
        "id": card.id,
        "modality": card.modality,
        "text": card.text,
        "label": card.label,
        "media_url": f"/api/media/{quote(card.id, safe='')}" if card.media else None,
        "media_type": MEDIA_TYPES.get(Path(card.media).suffix.lower()) if card.media else None,
        "neighbours": [NeighbourOut(text=n.text, relation=n.relation, id=n.id) for n in card.neighbours],
    }


def hits_out(hits: list[Hit]) -> list[HitOut]:
    """``hits`` in order as response items, ranked from 1."""
    return [
        HitOut(**item_out(hit.card), rank=rank, score=hit.score, first_stage_score=hit.first_stage_score)
        for rank, hit in enumerate(hits, start=1)
    ]


def known_card(engine: SearchEngine, item_id: str) -> ItemCard:
    """The card of ``item_id``; 404 when the index has no such item."""
    try:
        return engine.card(item_id)
    except KeyError:
        raise HTTPException(404, f"item_id: no item {item_id!r} in the index") from None
