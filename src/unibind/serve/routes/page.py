"""The demo page at ``/`` and its script and style sheet at ``/static/{name}``, outside the API schema."""

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

# the page's two assets, by name: no request path is ever mapped onto the file system
PAGE_ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> HTMLResponse:
    """The demo page."""
    return HTMLResponse(read_asset("index.html"))


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """One of :data:`PAGE_ASSETS`; 404 for any other name."""
    if name not in PAGE_ASSETS:
        raise HTTPException(404, f"no page asset {name!r}")
    return Response(read_asset(name), media_type=PAGE_ASSETS[name])


def read_asset(name: str) -> str:
    """The text of the packaged file ``unibind/serve/static/<name>``."""
    return resources.files("unibind.serve").joinpath("static", name).read_text(encoding="utf-8")
