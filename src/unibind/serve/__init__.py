"""``unibind serve``: cross-modal search over an index as a JSON API and a demo page (FastAPI + uvicorn)."""

from unibind.serve.app import create_app
from unibind.serve.engine import SearchEngine
from unibind.serve.limits import Limits

__all__ = ["Limits", "SearchEngine", "create_app"]
