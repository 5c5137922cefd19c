"""``GET /api/items/{id}`` and ``/api/media/{id}``: an indexed item's card and its media file."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from unibind.retrieval.payload import MEDIA_TYPES
from unibind.serve.cards import item_out, known_card
from unibind.serve.dependencies import EngineDep
from unibind.serve.schemas import ItemOut

router = APIRouter()


@router.get("/api/items/{item_id:path}", response_model=ItemOut, summary="An indexed item's card")
def item(item_id: str, engine: EngineDep) -> ItemOut:
    """The item's modality, text, label, media link and graph neighbours."""
    return ItemOut(**item_out(known_card(engine, item_id)))


@router.get(
    "/api/media/{item_id:path}",
    summary="An indexed item's image, audio or motion GIF",
    response_class=FileResponse,
    responses={200: {"content": {t: {} for t in sorted(set(MEDIA_TYPES.values()))}}},
)
def media(item_id: str, engine: EngineDep) -> FileResponse:
    """The item's media file, served only from the index's media folder."""
    known_card(engine, item_id)
    try:
        path, media_type = engine.media(item_id)
    except KeyError:
        raise HTTPException(404, f"item_id: item {item_id!r} has no media") from None
    except (PermissionError, FileNotFoundError) as err:
        raise HTTPException(404, f"item_id: {err}") from None
    return FileResponse(path, media_type=media_type)
