"""``GET /api/info``: what the server can do."""

from dataclasses import asdict

from fastapi import APIRouter

from unibind.serve.dependencies import EngineDep, LimitsDep
from unibind.serve.schemas import InfoOut

router = APIRouter()


@router.get("/api/info", response_model=InfoOut, summary="What the server can do")
def info(engine: EngineDep, limits: LimitsDep) -> InfoOut:
    """The model's query modalities, the items per modality in the index, whether it reranks, and the limits."""
    return InfoOut(
        query_modalities=engine.query_modalities,
        index_modalities=engine.index_counts,
        dim=engine.index.dim,
        reranker=engine.reranker is not None,
        limits=asdict(limits),
    )
