"""unibind.atomic: one file or a set of files saved as a whole; reads see the old version or the new one."""

import os
import stat
from pathlib import Path

import pytest

import unibind.atomic as atomic
from unibind.atomic import PENDING_NAME, atomic_write, read_directory, write_directory

OWNED = ("a.txt", "b.txt", "sub")


def _version(tag: str, with_sub: bool = True):
    def write(folder: Path) -> None:
        (folder / "a.txt").write_text(f"a{tag}")
        (folder / "b.txt").write_text(f"b{tag}")
        if with_sub:
            (folder / "sub" / "deeper").mkdir(parents=True)
            (folder / "sub" / "deeper" / "c.txt").write_text(f"c{tag}")

    return write


def _read(folder: Path) -> tuple[str, ...]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return tuple(f"{p.relative_to(folder).as_posix()}={p.read_text()}" for p in files)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_new_version_replaces_the_old_and_other_files_stay(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    write_directory(folder, _version("1"), OWNED)
    assert read_directory(folder, _read) == ("a.txt=a1", "b.txt=b1", "sub/deeper/c.txt=c1")
    (folder / "mine.txt").write_text("not the save's")
    write_directory(folder, _version("2"), OWNED)
    assert read_directory(folder, _read) == ("a.txt=a2", "b.txt=b2", "mine.txt=not the save's", "sub/deeper/c.txt=c2")
    write_directory(folder, _version("3", with_sub=False), OWNED)  # an owned name the new version lacks goes
    assert _names(folder) == ["a.txt", "b.txt", "mine.txt"]
    assert (folder / "a.txt").read_text() == "a3"


def test_an_error_before_the_commit_keeps_the_old_version_and_no_temporary(tmp_path: Path) -> None:
    write_directory(tmp_path, _version("1"), OWNED)

    def half(folder: Path) -> None:
        (folder / "a.txt").write_text("a2")
        raise KeyboardInterrupt  # killed half-way through writing

    with pytest.raises(KeyboardInterrupt):
        write_directory(tmp_path, half, OWNED)
    assert _names(tmp_path) == ["a.txt", "b.txt", "sub"]
    assert read_directory(tmp_path, _read) == ("a.txt=a1", "b.txt=b1", "sub/deeper/c.txt=c1")


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_kill_after_the_commit_reads_the_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    write_directory(tmp_path, _version("1"), OWNED)
    place, calls = atomic._place, []

    def killed(source: Path, target: Path) -> None:
        calls.append(target.name)
        if len(calls) == fail_at:
            raise KeyboardInterrupt  # the top of the folder now mixes both versions
        place(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "_place", killed)
        with pytest.raises(KeyboardInterrupt):
            write_directory(tmp_path, _version("2"), OWNED)
    assert (tmp_path / PENDING_NAME).is_dir()
    assert read_directory(tmp_path, _read) == ("a.txt=a2", "b.txt=b2", "sub/deeper/c.txt=c2")
    write_directory(tmp_path, _version("3"), OWNED)  # finishes version 2, then writes 3
    assert _names(tmp_path) == ["a.txt", "b.txt", "sub"]
    assert read_directory(tmp_path, _read) == ("a.txt=a3", "b.txt=b3", "sub/deeper/c.txt=c3")


def test_stale_temporaries_are_removed_and_others_kept(tmp_path: Path) -> None:
    (tmp_path / ".unibind-stage.0123.tmp" / "sub").mkdir(parents=True)
    (tmp_path / ".unibind-trash.4567.tmp").mkdir()
    (tmp_path / ".a.txt.89ab.tmp").write_text("x")
    (tmp_path / ".b.txt.tmp").write_text("x")  # a fixed temporary name of older versions
    (tmp_path / ".sub.cdef.tmp").mkdir()
    (tmp_path / ".notes.txt.1234.tmp").write_text("someone else's")
    write_directory(tmp_path, _version("1"), OWNED)
    assert _names(tmp_path) == [".notes.txt.1234.tmp", "a.txt", "b.txt", "sub"]


def test_without_hard_links_files_are_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source, target):
        raise OSError("hard links not supported")

    monkeypatch.setattr(atomic.os, "link", no_links)
    write_directory(tmp_path, _version("1"), OWNED)
    write_directory(tmp_path, _version("2"), OWNED)
    assert read_directory(tmp_path, _read) == ("a.txt=a2", "b.txt=b2", "sub/deeper/c.txt=c2")


def test_a_read_restarts_when_the_pending_version_is_put_in_place_meanwhile(tmp_path: Path) -> None:
    write_directory(tmp_path, _version("1"), OWNED)
    (tmp_path / PENDING_NAME).mkdir()
    (tmp_path / PENDING_NAME / "a.txt").write_text("a1")
    seen = []

    def read(folder: Path) -> str:
        seen.append(folder.name)
        if folder.name == PENDING_NAME:
            (folder / "a.txt").unlink()
            folder.rmdir()  # another process finished the save
        return (folder / "a.txt").read_text()

    assert read_directory(tmp_path, read) == "a1"
    assert seen == [PENDING_NAME, tmp_path.name]


def test_atomic_write_leaves_nothing_on_error_and_uses_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write(target, lambda path: path.write_text("1"))

    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert _names(tmp_path) == ["out.json"]
    assert target.read_text() == "1"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
