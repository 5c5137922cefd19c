"""The server's limits and the ASGI middleware that enforces the body-size ones before any parsing.

Every limit is a field of :class:`Limits` (``unibind serve --max-...`` sets them); requests beyond one get a
4xx JSON answer ``{"detail": "<field>: ... <limit>"}``: 413 for sizes, 422 for values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unibind.modalities.suffixes import FILE_SUFFIXES

MIB = 1024 * 1024
# multipart framing (boundaries, part headers, the other form fields) allowed on top of the file itself
MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server.

    Args:
        max_body_bytes: largest JSON (or any non-multipart) request body.
        max_upload_bytes: largest uploaded file (a multipart body may add ``MULTIPART_OVERHEAD``).
        max_top_k: ``top_k`` runs from 1 to this.
        max_query_chars: longest text query (characters, before whitespace is collapsed).
        max_image_pixels: largest uploaded image (width x height), checked before it is decoded.
        max_audio_seconds: longest uploaded audio clip, checked before it is decoded.
        upload_types: file suffixes accepted per query modality.
    """

    max_body_bytes: int = 1 * MIB
    max_upload_bytes: int = 10 * MIB
    max_top_k: int = 100
    max_query_chars: int = 2000
    max_image_pixels: int = 40_000_000
    max_audio_seconds: float = 600.0
    upload_types: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(FILE_SUFFIXES))


class BodySizeLimit:
    """Refuses request bodies over the limit with 413 before the application reads them.

    Multipart bodies may hold ``max_upload_bytes + MULTIPART_OVERHEAD``, any other body ``max_body_bytes``.
    A declared ``Content-Length`` over the limit is refused at once; otherwise the body is read (at most the
    limit plus one chunk) and handed on to the application, so a chunked body cannot slip past.
    """

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope["headers"]}
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.limits.max_upload_bytes + MULTIPART_OVERHEAD if multipart else self.limits.max_body_bytes
        what = "multipart body (upload)" if multipart else "request body"
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, f"{what}: {int(declared)} bytes, more than the limit of {limit} bytes")
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, f"{what}: more than the limit of {limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, detail: str) -> None:
    payload = json.dumps({"detail": detail, "errors": []}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
