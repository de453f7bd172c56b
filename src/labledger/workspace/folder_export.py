"""Writing blobs out as a folder (the files of a tree): paths checked first, bytes checked as they
are copied, nothing left behind when anything fails.

Every relative path is refused, before a byte is written, when it is absolute or one of its parts
is empty, ``.`` or ``..``, holds a separator (``/``, ``\\``) or a control character, or starts with
a drive letter (``C:``); and so are paths that clash (one listed twice, or ``a`` and ``a/b``).
The files are written into a hidden staging folder, each hashed while copied
(``blob_export.write_checked``):

- a destination that does not exist yet *is* the staging folder, renamed into place at the end;
- an existing destination is filled: a first pass checks that no file would be replaced (without
  ``overwrite``) and that no part of any path is a symbolic link, the staging folder is made
  inside it, and once every file is complete each is moved to its place. Folders are opened one
  part at a time with ``O_NOFOLLOW``, so a link made meanwhile is refused too.

A failure removes the staging folder and whatever was already moved (a file replaced with
``overwrite`` cannot be put back).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError
from labledger.workspace.blob_export import (
    FOLDER_FLAGS,
    LINK_HINT,
    install_file,
    lstat_at,
    name_problem,
    open_folder,
    refuse_existing,
    temp_name,
    write_checked,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore

__all__ = ["check_paths", "write_folder"]

_HINT = "the manifest may have been tampered with; run `labledger verify`"
Parts = tuple[str, ...]


def _path_problem(path: str) -> str | None:
    if path.startswith("/"):
        return "an absolute path leads outside the destination"
    for part in path.split("/"):
        why = name_problem(part)
        if why is not None:
            return why if part == path else f"its part {part!r}: {why}"
    return None


def check_paths(paths: Iterable[str], *, what: str) -> list[Parts]:
    """Each path split into its parts; raise ``ValidationError`` on any unsafe or clashing path."""
    checked: list[Parts] = []
    seen: set[Parts] = set()
    for path in paths:
        why = _path_problem(path)
        if why is not None:
            raise ValidationError(
                f"{what}: tree entry {path!r} cannot be written: {why}", hint=_HINT
            )
        parts = tuple(path.split("/"))
        if parts in seen:
            raise ValidationError(f"{what}: tree entry {path!r} is listed twice", hint=_HINT)
        seen.add(parts)
        checked.append(parts)
    folders = {parts[:end] for parts in seen for end in range(1, len(parts))}
    clash = min(seen & folders, default=None)
    if clash is not None:
        path = "/".join(clash)
        raise ValidationError(
            f"{what}: tree entry {path!r} is a file, and other entries are inside it", hint=_HINT
        )
    return checked


class _Folders:
    """Folders under an open root, opened one part at a time without following a link."""

    def __init__(self, root_fd: int, shown: Path) -> None:
        self._fds: dict[Parts, int] = {(): root_fd}
        self._shown = shown
        self.made: list[Parts] = []

    def get(self, parts: Parts, *, create: bool) -> int | None:
        """The folder's descriptor; ``None`` when it is missing and not to be created."""
        if parts in self._fds:
            return self._fds[parts]
        parent = self.get(parts[:-1], create=create)
        if parent is None:
            return None
        if create:
            try:
                os.mkdir(parts[-1], 0o777, dir_fd=parent)
                self.made.append(parts)
            except FileExistsError:
                pass
        try:
            fd = os.open(parts[-1], FOLDER_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if create:
                raise
            return None
        except OSError as exc:
            shown = self._shown.joinpath(*parts)
            found = lstat_at(parent, parts[-1])
            # Linux answers ENOTDIR for a link opened with O_DIRECTORY | O_NOFOLLOW, BSD ELOOP.
            if exc.errno == errno.ELOOP or (found is not None and stat.S_ISLNK(found.st_mode)):
                raise ValidationError(
                    f"{shown} is a symbolic link, which may lead outside the destination; "
                    "refusing to write through it",
                    hint=LINK_HINT,
                ) from None
            if exc.errno == errno.ENOTDIR:
                raise ValidationError(
                    f"{shown} is a file where the tree has a folder",
                    hint="remove it, or choose another destination",
                ) from None
            raise
        self._fds[parts] = fd
        return fd

    def must(self, parts: Parts) -> int:
        fd = self.get(parts, create=True)
        assert fd is not None  # created when missing
        return fd

    def remove_made(self) -> None:
        """Remove the folders this made (when empty), deepest first."""
        for parts in reversed(self.made):
            with contextlib.suppress(OSError):
                os.rmdir(parts[-1], dir_fd=self._fds[parts[:-1]])

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


def write_folder(
    store: BlobStore,
    files: Sequence[tuple[str, str]],
    destination: Path,
    *,
    overwrite: bool = False,
    what: str = "tree",
) -> Path:
    """Write ``(relative path, digest)`` pairs as files under ``destination``; return it.

    Args:
        store: Where the blobs are.
        files: Each file's path relative to ``destination`` (``/``-separated) and blob digest.
        destination: The folder to make, or to fill when it exists; it may not be a link.
        overwrite: Replace files that are already there.
        what: What is written, for messages (``artifact 'images' (0190...)``).

    Raises:
        ValidationError: A path is unsafe or clashes, a file is in the way, or a symbolic link
            would be followed; nothing is written.
        IntegrityError: A blob's bytes do not match its digest; nothing is written.
    """
    parts = check_paths((path for path, _ in files), what=what)
    entries = list(zip(parts, (digest for _, digest in files), strict=True))
    if destination.name in ("", ".", ".."):
        destination.mkdir(parents=True, exist_ok=True)
    try:
        found: os.stat_result | None = destination.lstat()
    except FileNotFoundError:
        found = None
    if found is None:
        _write_new(store, entries, destination, overwrite=overwrite, what=what)
    elif stat.S_ISLNK(found.st_mode):
        raise ValidationError(
            f"{destination} is a symbolic link; refusing to write through it", hint=LINK_HINT
        )
    elif not stat.S_ISDIR(found.st_mode):
        raise ValidationError(
            f"{destination} is a file; {what} needs a folder",
            hint="choose a folder path, e.g. ./out/",
        )
    else:
        _fill(store, entries, destination, overwrite=overwrite, what=what)
    return destination


def _stage(
    store: BlobStore, entries: list[tuple[Parts, str]], staged: _Folders, what: str, shown: Path
) -> None:
    for parts, digest in entries:
        path = "/".join(parts)
        folder = staged.must(parts[:-1])
        write_checked(
            store, digest, folder, parts[-1], what=f"file {path!r} of {what}", shown=shown
        )


def _write_new(
    store: BlobStore,
    entries: list[tuple[Parts, str]],
    destination: Path,
    *,
    overwrite: bool,
    what: str,
) -> None:
    parent_fd = open_folder(destination.parent)
    stage = temp_name()
    staged_away = False
    try:
        os.mkdir(stage, 0o777, dir_fd=parent_fd)
        staged = _Folders(os.open(stage, FOLDER_FLAGS, dir_fd=parent_fd), destination)
        try:
            _stage(store, entries, staged, what, destination)
            try:
                os.rename(stage, destination.name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
                staged_away = True
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                # Made by someone else meanwhile: fill it like any existing folder.
                target = _Folders(open_folder(destination, create=False), destination)
                try:
                    _move_all(staged, target, entries, destination, overwrite=overwrite)
                finally:
                    target.close()
        finally:
            staged.close()
    finally:
        if not staged_away:
            with contextlib.suppress(OSError):
                shutil.rmtree(stage, dir_fd=parent_fd)
        os.close(parent_fd)


def _fill(
    store: BlobStore,
    entries: list[tuple[Parts, str]],
    destination: Path,
    *,
    overwrite: bool,
    what: str,
) -> None:
    target = _Folders(open_folder(destination, create=False), destination)
    try:
        root = target.must(())
        for parts, _ in entries:  # refuse before writing anything
            folder = target.get(parts[:-1], create=False)
            if folder is not None:
                shown = destination.joinpath(*parts)
                refuse_existing(lstat_at(folder, parts[-1]), shown, overwrite=overwrite)
        stage = temp_name()
        os.mkdir(stage, 0o777, dir_fd=root)
        try:
            staged = _Folders(os.open(stage, FOLDER_FLAGS, dir_fd=root), destination)
            try:
                _stage(store, entries, staged, what, destination)
                _move_all(staged, target, entries, destination, overwrite=overwrite)
            finally:
                staged.close()
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(stage, dir_fd=root)
    finally:
        target.close()


def _move_all(
    staged: _Folders,
    target: _Folders,
    entries: list[tuple[Parts, str]],
    destination: Path,
    *,
    overwrite: bool,
) -> None:
    """Move every staged file to its place; on failure take back what was moved."""
    moved: list[tuple[int, str]] = []
    try:
        for parts, _ in entries:
            source = staged.must(parts[:-1])
            folder = target.must(parts[:-1])
            shown = destination.joinpath(*parts)
            existed = lstat_at(folder, parts[-1])
            refuse_existing(existed, shown, overwrite=overwrite)
            install_file(source, parts[-1], folder, parts[-1], overwrite=overwrite, shown=shown)
            if existed is None:
                moved.append((folder, parts[-1]))
    except BaseException:
        for folder, name in reversed(moved):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=folder)
        target.remove_made()
        raise
