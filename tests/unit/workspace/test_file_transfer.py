"""Copying while hashing, cloning and hard-linking files into the local store."""

from __future__ import annotations

import errno
import fcntl
import os
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger.workspace import file_transfer
from labledger.workspace.file_transfer import (
    DIRECT_COPY_THRESHOLD,
    clone_file,
    hash_and_copy,
    link_file,
)
from tests.unit.workspace.blobstore_conformance import some_bytes

if TYPE_CHECKING:
    from pathlib import Path

# Large enough for the mapped, threaded copy; the odd tail cannot be written with direct I/O.
LARGE = DIRECT_COPY_THRESHOLD + 3 * 4096 + 123


def _copy(source: Path, target: Path, **kwargs: Any) -> tuple[str, bool]:
    size = source.stat().st_size
    with source.open("rb") as src, target.open("wb") as dst:
        return hash_and_copy(src.fileno(), dst.fileno(), size, **kwargs)


@pytest.mark.parametrize("size", [0, 1, 4096, 1_000_003, LARGE])
def test_copy_holds_the_bytes_and_their_digest(tmp_path: Path, size: int) -> None:
    data = some_bytes(size, seed=size)
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(data)
    assert _copy(source, target) == (digest_bytes(data), True)
    assert target.read_bytes() == data


def test_copy_without_direct_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A platform or filesystem without direct I/O gets the same bytes through the page cache.
    monkeypatch.setattr(file_transfer, "_O_DIRECT", 0)
    data = some_bytes(LARGE, seed=1)
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(data)
    assert _copy(source, target) == (digest_bytes(data), True)
    assert target.read_bytes() == data


def _offers_direct_io(folder: Path) -> bool:
    probe = folder / "direct-probe"
    with probe.open("wb") as handle:
        offered = file_transfer._set_direct(handle.fileno(), on=True)
    probe.unlink()
    return offered


def test_copy_falls_back_when_direct_writes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A device wanting larger alignment than a page refuses the first direct write.
    if not _offers_direct_io(tmp_path):
        pytest.skip("this filesystem has no direct I/O")
    real_pwrite = os.pwrite
    refused = []

    def pwrite_refusing_direct_io(fd: int, data: Any, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & file_transfer._O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite_refusing_direct_io)
    data = some_bytes(LARGE, seed=2)
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(data)
    assert _copy(source, target) == (digest_bytes(data), True)
    assert refused == [0]
    assert target.read_bytes() == data


def test_other_write_errors_propagate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full_disk)
    source = tmp_path / "source"
    source.write_bytes(some_bytes(LARGE, seed=3))
    with pytest.raises(OSError, match="No space left"):
        _copy(source, tmp_path / "target")


def test_copy_stops_early_once_the_bytes_are_known(tmp_path: Path) -> None:
    data = some_bytes(LARGE, seed=4)
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(data)
    asked: list[str] = []

    def present(digest: str) -> bool:
        asked.append(digest)
        return True

    digest, complete = _copy(source, target, present=present)
    assert digest == digest_bytes(data)
    assert asked == [digest]
    # Hashing usually finishes first; when it does not, the copy is simply complete.
    assert complete is (target.stat().st_size == len(data) and target.read_bytes() == data)


def test_clone_is_an_independent_copy_or_refused(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(b"cloned bytes")
    with source.open("rb") as src, target.open("wb") as dst:
        cloned = clone_file(src.fileno(), dst.fileno())
    if not cloned:
        pytest.skip("this filesystem cannot clone files")
    assert target.read_bytes() == b"cloned bytes"
    source.write_bytes(b"changed")
    assert target.read_bytes() == b"cloned bytes"


def test_clone_refused_by_the_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clone(fd: int, request: int, arg: int) -> int:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(file_transfer.fcntl, "ioctl", no_clone)
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(b"x")
    with source.open("rb") as src, target.open("wb") as dst:
        assert clone_file(src.fileno(), dst.fileno()) is False


def test_link_shares_the_inode(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"linked")
    assert link_file(source, tmp_path / "link")
    assert (tmp_path / "link").stat().st_ino == source.stat().st_ino


def test_link_across_filesystems_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cross_device(src: Any, dst: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    source = tmp_path / "source"
    source.write_bytes(b"far away")
    assert link_file(source, tmp_path / "link") is False


def test_link_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        link_file(tmp_path / "missing", tmp_path / "link")
