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
from labledger.workspace.blob_export import export_blob, name_problem
from labledger.workspace.blobstore import put_files
from labledger.workspace.folder_export import write_folder

if TYPE_CHECKING:
    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["PathMaterializer", "copy_blob", "read_manifest", "store_tree", "write_tree"]


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
    files = _regular_files(folder)
    for path, digest in zip(files, put_files(store, files), strict=True):
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


def copy_blob(store: BlobStore, digest: str, target: Path) -> None:
    """Write a blob's bytes to ``target`` (replacing a file there), checked against its digest.

    Raises:
        IntegrityError: The bytes do not match ``digest``; ``target`` is left as it was.
    """
    export_blob(store, digest, target.parent, target.name, overwrite=True, what=f"{target.name!r}")


def write_tree(
    store: BlobStore,
    digest: str,
    destination: Path,
    *,
    overwrite: bool = False,
    what: str | None = None,
) -> Path:
    """Write the files of a tree under ``destination`` (made, or filled when it exists).

    Every entry is checked before any file is written, and every file's bytes against its digest
    (see ``labledger.workspace.folder_export``): an entry such as ``../x``, a symbolic link in
    ``destination``, a file in the way (without ``overwrite``) or a damaged blob raises and
    leaves ``destination`` as it was.
    """
    entries = read_manifest(store, digest)
    files = [(entry["path"], entry["digest"]) for entry in entries]
    return write_folder(
        store, files, destination, overwrite=overwrite, what=what or f"tree {digest}"
    )


def _safe_name(name: Any, fallback: str) -> str:
    """Only the last part of a recorded name: it can never lead out of the work folder."""
    base = PurePosixPath(name.replace("\\", "/")).name if isinstance(name, str) else ""
    return base if name_problem(base) is None else fallback


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
                store,
                stored.digest,
                folder / _safe_name(stored.schema.get("name"), short),
                overwrite=True,
            )
        name = _safe_name(stored.schema.get("name"), f"{short}.{stored.format}")
        return export_blob(store, stored.digest, folder, name, overwrite=True, what=f"{name!r}")
