"""Fetch pinned npm packages with the ordinary npm client, verify their integrity and unpack them safely."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


class FetchError(RuntimeError):
    """A package could not be fetched, verified or unpacked; the message says what to do."""


@dataclass(frozen=True)
class NpmPackage:
    """A pinned npm package and the Subresource-Integrity (sha512) of its tarball."""

    name: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


def sri_sha512(path: Path) -> str:
    """``sha512-<base64>`` of a file, as npm's ``integrity`` field writes it."""
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def fetch_tarball(package: NpmPackage, directory: Path) -> Path:
    """``npm pack`` the package into ``directory`` (kept if already there and intact); returns the tarball."""
    directory.mkdir(parents=True, exist_ok=True)
    tarball = directory / package.tarball_name
    if tarball.is_file() and sri_sha512(tarball) == package.integrity:
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(
            f"npm is needed to fetch {package.spec}: install Node.js and npm (Debian: apt-get install npm)"
        )
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        result = subprocess.run(
            [npm, "pack", package.spec, "--silent", "--pack-destination", scratch],
            capture_output=True,
            text=True,
            check=False,
        )
        fetched = Path(scratch) / package.tarball_name
        if result.returncode != 0 or not fetched.is_file():
            raise FetchError(
                f"'npm pack {package.spec}' failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
            )
        actual = sri_sha512(fetched)
        if actual != package.integrity:
            raise FetchError(f"{package.spec}: integrity {actual} does not match the pinned {package.integrity}")
        fetched.replace(tarball)
    return tarball


def unpack(package: NpmPackage, tarball: Path, directory: Path) -> Path:
    """Unpack ``tarball`` into ``directory / name-version`` once (a marker file records completion)."""
    target = directory / f"{package.name.lstrip('@').replace('/', '-')}-{package.version}"
    marker = target / ".unpacked"
    if marker.is_file() and marker.read_text() == package.integrity:
        return target
    if target.exists():
        shutil.rmtree(target)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".unpack-"))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(staging, filter="data")  # refuses absolute paths, links out, devices
        (staging / "package").replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(package.integrity)
    return target


def fetch_and_unpack(package: NpmPackage, directory: Path) -> Path:
    """Fetch, verify and unpack ``package`` under ``directory``; returns the unpacked package folder."""
    return unpack(package, fetch_tarball(package, directory / "tarballs"), directory)
