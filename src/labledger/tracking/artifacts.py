"""Storing artifacts: files, folders (as trees), and in-memory values, registered in the catalog.

A folder becomes a *tree*: each file is a blob, and a manifest blob lists ``(path, digest, size)``
sorted by path, so the tree's digest changes exactly when any file's path or bytes change.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.tracking.serialization import serialize
from labledger.tracking.types import Artifact
from labledger.workspace import schema
from labledger.workspace.current import get_workspace
from labledger.workspace.lookup import find_by_id
from labledger.workspace.search_index import refresh_document

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from labledger.workspace.workspace import Workspace

__all__ = [
    "artifact_from_row",
    "export_artifact",
    "get_artifact",
    "list_artifacts",
    "read_tree",
    "store_artifact",
]

_MAX_NAME = 300


def _store_tree(
    workspace: Workspace, folder: Path
) -> tuple[str, int, list[tuple[str, int]], dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    blobs: list[tuple[str, int]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        digest = workspace.store.put_file(path)
        size = path.stat().st_size
        entries.append(
            {"path": path.relative_to(folder).as_posix(), "digest": digest, "size": size}
        )
        blobs.append((digest, size))
    manifest = canonical_json({"kind": "tree", "entries": entries})
    digest = workspace.store.put(manifest)
    blobs.append((digest, len(manifest)))
    stats = {"files": len(entries), "bytes": sum(e["size"] for e in entries)}
    return digest, len(manifest), blobs, stats


def store_artifact(
    workspace: Workspace, value: Any, *, name: str | None = None, run_id: str | None = None
) -> Artifact:
    """Store ``value`` and record it as an artifact of ``run_id`` (or of no run)."""
    schema_doc: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    if isinstance(value, str | os.PathLike):
        path = Path(value)
        if not path.exists():
            raise NotFoundError(
                f"no file or folder at {path}",
                hint="check the path; to store text or values, pass bytes, a dict or a list",
            )
        default_name = path.name
        if path.is_dir():
            digest, size, blobs, stats = _store_tree(workspace, path)
            kind, fmt = "tree", "tree"
        else:
            digest = workspace.store.put_file(path)
            size = path.stat().st_size
            blobs = [(digest, size)]
            kind, fmt = "file", path.suffix.lstrip(".").lower() or "bin"
            stats = {"bytes": size}
    else:
        serialized = serialize(value)
        digest = workspace.store.put(serialized.data)
        size = len(serialized.data)
        blobs = [(digest, size)]
        kind, fmt, schema_doc, stats = (
            serialized.kind,
            serialized.format,
            serialized.schema,
            serialized.stats,
        )
        default_name = f"{kind}-{digest[7:15]}"
    name = name or default_name
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        raise ValidationError(f"artifact name {name!r} is invalid", hint="use 1-300 characters")
    artifact = Artifact(
        id=new_id(),
        name=name,
        kind=kind,
        format=fmt,
        digest=digest,
        size=size,
        run_id=run_id,
        created_at=time.time(),
        created_by=workspace.actor,
        schema=schema_doc,
        stats=stats,
    )
    with workspace.write() as conn:
        for blob_digest, blob_size in blobs:
            workspace.register_blob(conn, blob_digest, blob_size)
        if run_id is not None:
            clash = conn.execute(
                select(schema.artifacts.c.id).where(
                    schema.artifacts.c.run_id == run_id, schema.artifacts.c.name == name
                )
            ).scalar()
            if clash is not None:
                raise ValidationError(
                    f"run {run_id} already has an artifact named {name!r}",
                    hint="pass another name=",
                )
        conn.execute(
            schema.artifacts.insert(),
            {
                "id": artifact.id,
                "project_id": workspace.project_id(),
                "name": name,
                "kind": kind,
                "format": fmt,
                "digest": digest,
                "size": size,
                "schema_json": canonical_text(schema_doc),
                "stats_json": canonical_text(stats),
                "run_id": run_id,
                "created_at": artifact.created_at,
                "created_by": workspace.actor,
            },
        )
        refresh_document(conn, "artifact", artifact.id)
        workspace.record(
            conn,
            "artifact.produced",
            f"artifact:{artifact.id}",
            {"artifact_id": artifact.id, "name": name, "digest": digest, "run_id": run_id},
        )
    return artifact


def artifact_from_row(row: Row[Any]) -> Artifact:
    return Artifact(
        id=row.id,
        name=row.name,
        kind=row.kind,
        format=row.format,
        digest=row.digest,
        size=row.size,
        run_id=row.run_id,
        created_at=row.created_at,
        created_by=row.created_by,
        schema=json.loads(row.schema_json),
        stats=json.loads(row.stats_json),
    )


def _resolve(conn: Connection, ref: str) -> Row[Any]:
    table = schema.artifacts
    row = find_by_id(conn, table, ref, what="artifact")
    if row is None:
        row = conn.execute(
            select(table).where(table.c.name == ref).order_by(table.c.created_at.desc()).limit(1)
        ).first()
    if row is None and ref.startswith("blake3:"):
        row = conn.execute(select(table).where(table.c.digest == ref).limit(1)).first()
    if row is None:
        raise NotFoundError(
            f"no artifact with id, id prefix, name or digest {ref!r}",
            hint="list them with `labledger artifacts list`",
        )
    return row


def get_artifact(ref: str, *, workspace: Workspace | None = None) -> Artifact:
    """An artifact by id, unique id prefix, name (the newest of that name) or digest."""
    workspace = workspace or get_workspace()
    with workspace.read() as conn:
        return artifact_from_row(_resolve(conn, ref))


def list_artifacts(
    *,
    run_id: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
    workspace: Workspace | None = None,
) -> list[Artifact]:
    """Artifacts, newest first, optionally of one run or kind."""
    workspace = workspace or get_workspace()
    table = schema.artifacts
    query = select(table).order_by(table.c.created_at.desc()).limit(limit)
    if run_id is not None:
        query = query.where(table.c.run_id == run_id)
    if kind is not None:
        query = query.where(table.c.kind == kind)
    with workspace.read() as conn:
        return [artifact_from_row(row) for row in conn.execute(query)]


def read_tree(workspace: Workspace, digest: str) -> list[dict[str, Any]]:
    """The entries (path, digest, size) of a tree manifest."""
    with workspace.store.open(digest) as handle:
        document = json.loads(handle.read())
    if not isinstance(document, dict) or document.get("kind") != "tree":
        raise ValidationError(f"blob {digest} is not a tree manifest")
    entries: list[dict[str, Any]] = document["entries"]
    return entries


def export_artifact(
    artifact: Artifact | str,
    destination: str | os.PathLike[str],
    *,
    workspace: Workspace | None = None,
) -> Path:
    """Write an artifact's bytes (a file, or a folder for trees) to ``destination``.

    Args:
        artifact: An ``Artifact`` or a reference ``get_artifact`` accepts.
        destination: A file path, or a folder to write into (trees always make a folder).
        workspace: Defaults to the current workspace.

    Returns:
        The path written.
    """
    workspace = workspace or get_workspace()
    if isinstance(artifact, str):
        artifact = get_artifact(artifact, workspace=workspace)
    destination = Path(destination)
    if artifact.kind == "tree":
        destination.mkdir(parents=True, exist_ok=True)
        root = destination.resolve()
        for entry in read_tree(workspace, artifact.digest):
            target = (destination / entry["path"]).resolve()
            if not target.is_relative_to(root):
                raise ValidationError(
                    f"tree entry {entry['path']!r} points outside the destination"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_blob(workspace, entry["digest"], target)
        return destination
    if destination.is_dir():
        # Only the last path part of a name: a name can never lead outside the destination.
        base = Path(artifact.name).name or artifact.id
        suffix = "" if "." in base else f".{artifact.format}"
        destination = destination / f"{base}{suffix}"
    if destination.is_symlink():
        raise ValidationError(
            f"{destination} is a symbolic link; refusing to write through it",
            hint="remove the link or choose another destination",
        )
    _copy_blob(workspace, artifact.digest, destination)
    return destination


def _copy_blob(workspace: Workspace, digest: str, target: Path) -> None:
    with workspace.store.open(digest) as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
