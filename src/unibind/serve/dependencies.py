"""FastAPI dependencies: the app's search engine and limits, which ``create_app`` keeps in ``app.state``."""

from typing import Annotated

from fastapi import Depends, Request

from unibind.serve.engine import SearchEngine
from unibind.serve.limits import Limits


def app_engine(request: Request) -> SearchEngine:
    """The search engine of the app answering ``request``."""
    return request.app.state.engine


def app_limits(request: Request) -> Limits:
    """The limits of the app answering ``request``."""
    return request.app.state.limits


EngineDep = Annotated[SearchEngine, Depends(app_engine)]
LimitsDep = Annotated[Limits, Depends(app_limits)]
