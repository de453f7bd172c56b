"""Files and folders: a file is one blob, a folder is a *tree*.

A tree stores every file as a blob plus a manifest blob, the canonical JSON of
``{"kind": "tree", "entries": [{"path", "digest", "size"}, ...]}`` with entries sorted by path
(part by part), so the tree's digest changes exactly when a file's path or bytes change.

Symbolic links (and sockets, FIFOs, devices) inside a folder are rejected, not skipped: a link may
point outside the folder or differ from machine to machine, and skipping it would give a tree whose
digest claims to be the folder while some of its files are missing. Empty folders are not recorded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.materializers.base import Stored, read_bytes

if TYPE_CHECKING:
    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["PathMaterializer", "copy_blob", "read_manifest", "store_tree", "write_tree"]

_CHUNK = 1 << 20


def _regular_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, sorted by path part by part."""
    found: list[Path] = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
                else:
                    what = "a symbolic link" if entry.is_symlink() else "not a regular file"
                    relative = Path(entry.path).relative_to(folder).as_posix()
                    raise ValidationError(
                        f"cannot store folder {folder}: {relative!r} is {what}",
                        hint="a tree stores file bytes only; replace links with copies of their "
                        "targets (cp -rL) or remove them, then store the folder again",
                    )
    return sorted(found, key=lambda path: path.relative_to(folder).parts)


def store_tree(store: BlobStore, folder: Path, *, materializer: str = "path") -> Stored:
    """Store every file under ``folder`` and a manifest listing them; describe the tree."""
    entries: list[dict[str, Any]] = []
    blobs: list[tuple[str, int]] = []
    for path in _regular_files(folder):
        digest = store.put_file(path)
        size = path.stat().st_size
        entries.append(
            {"path": path.relative_to(folder).as_posix(), "digest": digest, "size": size}
        )
        blobs.append((digest, size))
    manifest = canonical_json({"kind": "tree", "entries": entries})
    digest = store.put(manifest)
    blobs.append((digest, len(manifest)))
    return Stored(
        digest=digest,
        size=len(manifest),
        kind="tree",
        format="tree",
        materializer=materializer,
        schema={"name": folder.name},
        stats={"files": len(entries), "bytes": sum(e["size"] for e in entries)},
        blobs=tuple(blobs),
    )


def _is_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("path"), str)
        and isinstance(entry.get("digest"), str)
        and isinstance(entry.get("size"), int)
    )


def read_manifest(store: BlobStore, digest: str) -> list[dict[str, Any]]:
    """The entries (``path``, ``digest``, ``size``) of a tree manifest.

    Raises:
        ValidationError: The blob is not a tree manifest.
    """
    try:
        document = json.loads(read_bytes(store, digest))
    except ValueError as exc:
        raise ValidationError(
            f"blob {digest} is not a tree manifest: it is not JSON ({exc})",
            hint="check that the artifact's kind is tree",
        ) from exc
    is_tree = isinstance(document, dict) and document.get("kind") == "tree"
    entries = document.get("entries") if is_tree else None
    if not isinstance(entries, list):
        raise ValidationError(
            f"blob {digest} is not a tree manifest", hint="check that the artifact's kind is tree"
        )
    if not all(_is_entry(entry) for entry in entries):
        raise ValidationError(
            f"tree manifest {digest} has a malformed entry",
            hint="each entry needs a str path, a str digest and an int size",
        )
    return entries


def _target(root: Path, relative: str) -> Path:
    """Where an entry goes under ``root``; refuse anything that would land outside it."""
    pure = PurePosixPath(relative)
    target = (root / relative).resolve()
    if pure.is_absolute() or ".." in pure.parts or not target.is_relative_to(root):
        raise ValidationError(
            f"tree entry {relative!r} points outside the destination",
            hint="the manifest may have been tampered with; run `labledger verify`",
        )
    if target == root:
        raise ValidationError(f"tree entry {relative!r} names no file")
    return target


def copy_blob(store: BlobStore, digest: str, target: Path) -> None:
    """Write a blob's bytes to ``target``, streaming."""
    with store.open(digest) as source, open(target, "wb") as sink:
        while chunk := source.read(_CHUNK):
            sink.write(chunk)


def write_tree(store: BlobStore, digest: str, destination: Path) -> Path:
    """Write the files of a tree under ``destination`` (created when missing); return it.

    Every entry is checked before any file is written, so a manifest with an entry such as
    ``../x`` (or one reaching out through a link already in ``destination``) raises
    ``ValidationError`` and writes nothing.
    """
    entries = read_manifest(store, digest)
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    targets = [(_target(root, entry["path"]), entry["digest"]) for entry in entries]
    for target, blob in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_blob(store, blob, target)
    return destination


def _safe_name(name: Any, fallback: str) -> str:
    """Only the last part of a recorded name: it can never lead out of the work folder."""
    base = PurePosixPath(str(name)).name if isinstance(name, str) else ""
    return base if base not in {"", ".", ".."} else fallback


class PathMaterializer:
    """``pathlib.Path`` to a file (one blob) or a folder (a tree); loaded back as a ``Path``."""

    name = "path"
    types: tuple[str, ...] = ("pathlib.Path", "pathlib._local.Path")

    def save(self, value: Any, store: BlobStore) -> Stored:
        path = Path(value)
        if path.is_dir():
            return store_tree(store, path, materializer=self.name)
        if not path.is_file():
            raise NotFoundError(
                f"no file or folder at {path}" if not path.exists() else f"{path} is not a file",
                hint="check the path; to store text, pass a str value rather than a Path",
            )
        digest = store.put_file(path)
        size = path.stat().st_size
        return Stored(
            digest=digest,
            size=size,
            kind="file",
            format=path.suffix.lstrip(".").lower() or "bin",
            materializer=self.name,
            schema={"name": path.name},
            stats={"bytes": size},
            blobs=((digest, size),),
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="labledger-")) if workdir is None else workdir
        short = stored.digest.rpartition(":")[2][:12]
        if stored.kind == "tree":
            return write_tree(
                store, stored.digest, folder / _safe_name(stored.schema.get("name"), short)
            )
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _safe_name(stored.schema.get("name"), f"{short}.{stored.format}")
        if target.is_symlink():
            raise ValidationError(
                f"{target} is a symbolic link; refusing to write through it",
                hint="remove the link or load into another folder",
            )
        copy_blob(store, stored.digest, target)
        return target
