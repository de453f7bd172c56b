"""Digests of local files and folders, remembered by their ``stat`` so unchanged files cost one call.

A file's digest is kept with what ``stat`` said when it was hashed: device, inode, size, modification
and change times (as git's index and DVC's state database do). While all five are unchanged the
file is not read again. A change of any of them re-hashes it, so the digest follows the bytes: an
edit changes it, a ``touch`` (same bytes, new times) costs one re-hash and leaves it equal.

Timestamps have a granularity (a few milliseconds on ext4, seconds on some network filesystems): a
file written again within the same tick as it was hashed keeps its times. Such *racy* entries, hashed
less than ``RACY_WINDOW_NS`` after the file's last change, are never trusted; they are re-hashed
until the file has been still for longer than that.

The cache is a small SQLite file of this machine (inodes mean nothing elsewhere). Any trouble with it
(a locked, corrupt or read-only file) only costs speed: digests are then computed from the bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labledger._foundation.digests import digest_bytes, digest_file
from labledger._foundation.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "RACY_WINDOW_NS",
    "HashedPath",
    "StatCache",
    "TreeEntry",
    "default_cache_path",
    "tree_manifest",
]

RACY_WINDOW_NS = 2_000_000_000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, "
    "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, digest TEXT, hashed_ns INTEGER)"
)
_Key = tuple[int, int, int, int, int]
# canonical_json's encoder. A manifest holds only str and int values, which need none of its
# normalising, and with 10,000 entries that walk costs more than the encoding itself.
_encode_plain = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def default_cache_path(workspace_root: Path | None) -> Path:
    """Where the stat cache lives: in an embedded workspace's folder, else the user's cache."""
    if workspace_root is not None:
        return workspace_root / "stat-cache.db"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labledger" / "stat-cache.db"


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of a hashed folder: its path inside the folder (``/``-separated), digest, size."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class HashedPath:
    """A hashed file or folder.

    Attributes:
        path: The absolute path.
        kind: ``"file"`` or ``"tree"``.
        digest: The file's digest, or the digest of the folder's tree manifest (the same digest the
            blob store gives the folder when it stores it).
        size: Bytes of the file, or of all files in the folder.
        entries: The folder's files, sorted as in its manifest; empty for a file.
        manifest: The tree manifest's bytes; empty for a file.
        seen: What ``stat`` said of each file when it was hashed (relative path -> device, inode,
            size, modification and change time), to tell later whether anything changed.
    """

    path: str
    kind: str
    digest: str
    size: int
    entries: tuple[TreeEntry, ...] = ()
    manifest: bytes = b""
    seen: tuple[tuple[str, tuple[int, ...]], ...] = ()
    skip: frozenset[str] = frozenset()
    hashed_ns: int = 0

    def changed(self) -> bool:
        """Whether the file, or any file of the folder, changed (or came or went) since hashing.

        A file whose ``stat`` is unchanged but which changed less than ``RACY_WINDOW_NS`` before
        it was hashed is read again: within one timestamp tick, new bytes keep the old times.
        """
        try:
            if self.kind == "file":
                now = {"": _key(os.stat(self.path))}
            else:
                now = {relative: _key(st) for relative, _, st in _walk(self.path, self.skip)}
        except (OSError, ValidationError):
            return True
        if now != dict(self.seen):
            return True
        limit = self.hashed_ns - RACY_WINDOW_NS
        racy = [relative for relative, key in self.seen if max(key[3], key[4]) >= limit]
        if not racy:
            return False
        digests = (
            {"": self.digest} if self.kind == "file" else {e.path: e.digest for e in self.entries}
        )
        for relative in racy:
            full = os.path.join(self.path, relative) if relative else self.path
            try:
                if digest_file(full) != digests.get(relative):
                    return True
            except OSError:
                return True
        return False


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StatCache:
    """Hashes files and folders, re-reading only files whose ``stat`` changed.

    Args:
        path: The cache file; ``None`` keeps the cache in memory for this object's life only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._known: dict[str, tuple[_Key, str, int]] = {}
        self._loaded: set[str] = set()  # folders and files whose rows were read
        self._dirty: dict[str, tuple[_Key, str, int]] = {}
        self.hashed = 0  # files read this time, for tests and progress

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self.path is not None:
            try:
                self._db = _open(self.path)
            except sqlite3.DatabaseError:
                # A damaged cache is only a cache: start a new one.
                try:
                    self.path.unlink()
                    self._db = _open(self.path)
                except (sqlite3.Error, OSError):
                    self.path = None
            except (sqlite3.Error, OSError, ValueError):
                self.path = None  # no cache file this time; digests come from the bytes
        return self._db

    def _load(self, path: str, *, folder: bool) -> None:
        if path in self._loaded:
            return
        self._loaded.add(path)
        db = self._connect()
        if db is None:
            return
        try:
            if folder:
                # Every row under the folder in one range scan: '/' + 1 is '0'.
                rows = db.execute(
                    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, digest, hashed_ns FROM files "
                    "WHERE path > ? AND path < ?",
                    (path + "/", path + "0"),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, digest, hashed_ns FROM files "
                    "WHERE path = ?",
                    (path,),
                ).fetchall()
        except sqlite3.Error:
            return
        for name, dev, ino, size, mtime, ctime, digest, hashed in rows:
            self._known.setdefault(name, ((dev, ino, size, mtime, ctime), digest, hashed))

    def _digest(self, path: str, st: os.stat_result) -> str:
        key = _key(st)
        known = self._known.get(path)
        # Racy unless the last change (of the bytes, or of the times put back by `cp -p`) was
        # well before the hashing.
        changed = max(st.st_mtime_ns, st.st_ctime_ns)
        if known is not None and known[0] == key and changed < known[2] - RACY_WINDOW_NS:
            return known[1]
        hashed_ns = time.time_ns()
        try:
            digest = digest_file(path)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        self.hashed += 1
        # A file that changed while it was read is not remembered: the next look reads it again.
        if _key(os.stat(path)) == key:
            entry = (key, digest, hashed_ns)
            self._known[path] = self._dirty[path] = entry
        return digest

    def hash_file(self, path: str | os.PathLike[str]) -> HashedPath:
        """The digest of one regular file.

        Raises:
            NotFoundError: No file there.
            ValidationError: The path is a folder or not a regular file.
        """
        # The file the step will open: through any symbolic link on the way (``lnk/../x``).
        absolute = os.path.realpath(path)
        started = time.time_ns()
        try:
            st = os.stat(absolute)
        except FileNotFoundError:
            raise NotFoundError(
                f"no file at {path}",
                hint=f"check the path (relative paths start at the working folder, {os.getcwd()})",
            ) from None
        except OSError as exc:
            raise _unreadable(absolute, exc) from None
        if stat.S_ISDIR(st.st_mode):
            raise ValidationError(
                f"{path} is a folder, not a file",
                hint=f"read it as labledger.Folder({str(path)!r})",
            )
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(f"{path} is not a regular file", hint="pass a file or a folder")
        self._load(absolute, folder=False)
        digest = self._digest(absolute, st)
        return HashedPath(
            absolute, "file", digest, st.st_size, seen=(("", _key(st)),), hashed_ns=started
        )

    def hash_folder(
        self, path: str | os.PathLike[str], *, skip: frozenset[str] = frozenset()
    ) -> HashedPath:
        """The tree digest of a folder: every regular file under it, by relative path and digest.

        Args:
            path: The folder.
            skip: Absolute paths of folders inside it to leave out (a workspace's own folder).

        Raises:
            NotFoundError: No folder there.
            ValidationError: It holds a symbolic link or something other than files and folders
                (a tree stores file bytes only), or the path is a file.
        """
        absolute = os.path.realpath(path)
        started = time.time_ns()
        if not os.path.isdir(absolute):
            if os.path.exists(absolute):
                raise ValidationError(
                    f"{path} is a file, not a folder",
                    hint=f"read it as labledger.File({str(path)!r})",
                )
            raise NotFoundError(
                f"no folder at {path}",
                hint=f"check the path (relative paths start at the working folder, {os.getcwd()})",
            )
        self._load(absolute, folder=True)
        entries: list[tuple[tuple[str, ...], TreeEntry]] = []
        seen: list[tuple[str, _Key]] = []
        for relative, full, st in _walk(absolute, skip):
            digest = self._digest(full, st)
            entries.append((tuple(relative.split("/")), TreeEntry(relative, digest, st.st_size)))
            seen.append((relative, _key(st)))
        entries.sort(key=lambda item: item[0])
        ordered = tuple(entry for _, entry in entries)
        manifest = tree_manifest(ordered)
        return HashedPath(
            absolute,
            "tree",
            digest_bytes(manifest),
            sum(e.size for e in ordered),
            ordered,
            manifest,
            tuple(seen),
            skip,
            started,
        )

    def hash_path(
        self, path: str | os.PathLike[str], *, skip: frozenset[str] = frozenset()
    ) -> HashedPath:
        """A file's or a folder's digest, whichever ``path`` is."""
        return self.hash_folder(path, skip=skip) if os.path.isdir(path) else self.hash_file(path)

    def save(self) -> None:
        """Write what was hashed to the cache file (a no-op when nothing was)."""
        if not self._dirty:
            return
        db = self._connect()
        if db is not None:
            rows = [
                (path, *key, digest, hashed) for path, (key, digest, hashed) in self._dirty.items()
            ]
            with contextlib.suppress(sqlite3.Error):
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)", rows)
                    db.execute("COMMIT")
                except sqlite3.Error:
                    db.execute("ROLLBACK")
                    raise
        self._dirty.clear()

    def close(self) -> None:
        """Save, then close the cache file."""
        try:
            self.save()
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
    except sqlite3.Error:
        db.close()
        raise
    return db


def tree_manifest(entries: tuple[TreeEntry, ...]) -> bytes:
    """The canonical JSON of a tree manifest of ``entries`` (already in manifest order)."""
    document = {
        "kind": "tree",
        "entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries],
    }
    return _encode_plain(document).encode("utf-8")


def _unreadable(path: str, exc: OSError) -> ValidationError:
    return ValidationError(
        f"cannot read {path}: {exc.strerror or exc}",
        hint="check its permissions (labledger hashes every file a step reads)",
    )


def _walk(
    root: str, skip: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, absolute path, stat) of every regular file under ``root``."""
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        try:
            found = os.scandir(folder)
        except OSError as exc:
            raise _unreadable(folder, exc) from None
        with found:
            for entry in found:
                relative = prefix + entry.name
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file(follow_symlinks=False)
                    st = entry.stat(follow_symlinks=False) if is_file else None
                except OSError as exc:
                    raise _unreadable(entry.path, exc) from None
                if is_dir:
                    if not skip or os.path.realpath(entry.path) not in skip:
                        pending.append((relative + "/", entry.path))
                elif st is not None:
                    yield relative, entry.path, st
                else:
                    what = "a symbolic link" if entry.is_symlink() else "not a regular file"
                    raise ValidationError(
                        f"cannot read folder {root}: {relative!r} is {what}",
                        hint="a folder input holds file bytes only; replace links with copies of "
                        "their targets (cp -rL) or remove them",
                    )
