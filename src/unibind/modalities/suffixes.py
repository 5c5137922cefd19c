"""File suffixes each file modality reads: the one table behind modality inference and upload checks."""

from __future__ import annotations

from pathlib import Path

FILE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "image": (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"),
    "audio": (".wav", ".flac", ".ogg", ".oga", ".mp3"),
    "motion": (".bvh", ".npy", ".txt", ".json"),
}


def modality_of_suffix(path: str | Path) -> str | None:
    """The modality whose files end like ``path`` (case-insensitive), or None."""
    suffix = Path(path).suffix.lower()
    return next((modality for modality, suffixes in FILE_SUFFIXES.items() if suffix in suffixes), None)
