"""Every error answer as JSON ``{"detail", "errors"}``: the app's exception handlers and the documented 4xx."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from unibind.serve.schemas import ErrorOut

# the error answers every operation documents in the OpenAPI schema
ERRORS = {status: {"model": ErrorOut} for status in (400, 404, 413, 415, 422)}


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 listing each invalid field (``body.top_k``, ...) with its message; ``detail`` joins them."""
    fields = [
        {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
        for e in error.errors()
    ]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return JSONResponse({"detail": detail, "errors": fields}, status_code=422)


async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """An :class:`HTTPException` (the routes' own, and the router's 404 and 405) with its status and detail."""
    return JSONResponse(
        {"detail": str(error.detail), "errors": []}, status_code=error.status_code, headers=error.headers
    )


def add_error_handlers(app: FastAPI) -> None:
    """Answer validation and HTTP errors of ``app`` as :class:`~unibind.serve.schemas.ErrorOut` JSON."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
