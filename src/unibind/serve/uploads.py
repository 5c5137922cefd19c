"""Uploaded query files: type by suffix, size, pixels and duration checked before anything decodes them.

An upload is copied into a fresh temporary folder under a name the server makes (``query`` plus the
upload's suffix, which must be one of ``Limits.upload_types``); nothing of the uploaded name reaches the
file system. Problems raise :class:`UploadError` with the HTTP status to answer: 413 for sizes, 415 for a
type the server does not take, 422 for a file it cannot read.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import soundfile
from PIL import Image, UnidentifiedImageError

from unibind.serve.limits import Limits

CHUNK = 64 * 1024


class UploadError(Exception):
    """An upload the server refuses: ``status`` (413, 415 or 422) and a message naming the field and the limit."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def upload_modality(filename: str, modality: str | None, limits: Limits) -> tuple[str, str]:
    """``(modality, suffix)`` of an upload: ``modality`` as given or, when None, the one its suffix belongs to."""
    suffix = Path(filename or "").suffix.lower()
    if modality is not None:
        accepted = limits.upload_types.get(modality)
        if accepted is None:
            raise UploadError(
                422, f"modality: {modality!r} cannot be uploaded; choose one of {sorted(limits.upload_types)}"
            )
        if suffix not in accepted:
            raise UploadError(415, f"file: {suffix or 'no suffix'} is not an accepted {modality} type {list(accepted)}")
        return modality, suffix
    for candidate, accepted in limits.upload_types.items():
        if suffix in accepted:
            return candidate, suffix
    every = sorted({s for accepted in limits.upload_types.values() for s in accepted})
    raise UploadError(415, f"file: {suffix or 'no suffix'} is not an accepted type; accepted: {every}")


@contextmanager
def saved_upload(source: BinaryIO, suffix: str, limits: Limits) -> Iterator[Path]:
    """The upload copied to a temporary file (deleted afterwards); more than ``max_upload_bytes`` raises 413."""
    folder = Path(tempfile.mkdtemp(prefix="unibind-upload-"))
    try:
        path = folder / f"query{suffix}"
        size = 0
        with path.open("wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limits.max_upload_bytes:
                    raise UploadError(413, f"file: more than the upload limit of {limits.max_upload_bytes} bytes")
                out.write(chunk)
        if size == 0:
            raise UploadError(422, "file: the upload is empty")
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_decodable_size(path: Path, modality: str, limits: Limits) -> None:
    """Refuse images over ``max_image_pixels`` and audio over ``max_audio_seconds`` from their headers alone."""
    if modality == "image":
        try:
            with Image.open(path) as image:
                pixels = image.width * image.height
        except Image.DecompressionBombError as err:
            raise UploadError(413, f"file: {err}") from err
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise UploadError(422, "file: not an image the server can decode") from err
        if pixels > limits.max_image_pixels:
            raise UploadError(
                413, f"file: the image has {pixels} pixels, more than the limit of {limits.max_image_pixels}"
            )
    elif modality == "audio":
        try:
            info = soundfile.info(str(path))
        except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            raise UploadError(422, "file: not an audio file the server can decode") from err
        seconds = info.frames / info.samplerate if info.samplerate > 0 else float("inf")
        if seconds > limits.max_audio_seconds:
            raise UploadError(
                413, f"file: the audio lasts {seconds:.0f} s, more than the limit of {limits.max_audio_seconds} s"
            )
