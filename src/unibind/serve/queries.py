"""Query vectors from requests: texts and uploaded files embedded, modalities checked; problems as HTTP errors."""

import torch
from fastapi import HTTPException, UploadFile

from unibind.modalities import InputError, Modality
from unibind.serve.cards import known_card
from unibind.serve.engine import SearchEngine
from unibind.serve.limits import Limits
from unibind.serve.schemas import EmbedRequest, QueryOut
from unibind.serve.uploads import UploadError, check_decodable_size, saved_upload, upload_modality


def check_modalities(engine: SearchEngine, modalities: list[Modality] | None) -> list[str]:
    """The index modalities to search (all when None, duplicates dropped); 404 for one the index lacks."""
    if modalities is None:
        return list(engine.index_modalities)
    missing = [str(m) for m in modalities if m not in engine.index_modalities]
    if missing:
        raise HTTPException(404, f"modalities: the index holds no {missing} items; it holds {engine.index_modalities}")
    return [str(m) for m in dict.fromkeys(modalities)]


def embed_text(engine: SearchEngine, text: str) -> torch.Tensor:
    """The query vector of ``text``; 422 when the model has no text encoder or the text is unusable."""
    if Modality.TEXT not in engine.specs:
        raise HTTPException(422, "text: this model has no text encoder")
    try:
        return engine.embed(Modality.TEXT, text)
    except InputError as err:
        raise HTTPException(422, f"text: {str(err).removeprefix('query: ')}") from err


def embed_upload(
    engine: SearchEngine, limits: Limits, file: UploadFile, modality: str | None
) -> tuple[str, torch.Tensor]:
    """``(modality, query vector)`` of an uploaded file, checked against ``limits`` before it is decoded.

    ``modality`` defaults to the one the file's suffix belongs to. Refusals are 413 (sizes), 415 (file type) or
    422 (no encoder for the modality, an unreadable file); their messages never name the temporary path.
    """
    try:
        modality, suffix = upload_modality(file.filename or "", modality, limits)
        if modality not in engine.specs:
            raise UploadError(422, f"modality: this model has no {modality} encoder; it has {engine.query_modalities}")
        with saved_upload(file.file, suffix, limits) as path:
            check_decodable_size(path, modality, limits)
            try:
                return modality, engine.embed(modality, path)
            except InputError as err:
                message = str(err).replace(str(path), "the upload").removeprefix("query: ")
                raise UploadError(422, f"file: {message}") from err
    except UploadError as err:
        raise HTTPException(err.status, err.detail) from err


def query_vector(engine: SearchEngine, request: EmbedRequest) -> tuple[QueryOut, torch.Tensor]:
    """The query a text or item request describes, and its vector: the text embedded, or the item's stored one."""
    if request.text is not None:
        return QueryOut(kind="text", modality=Modality.TEXT), embed_text(engine, request.text)
    card = known_card(engine, request.item_id)
    return QueryOut(kind="item", modality=card.modality, item_id=card.id), engine.item_vector(card.id)
