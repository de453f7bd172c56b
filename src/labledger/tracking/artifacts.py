"""Storing artifacts: files, folders (as trees), and in-memory values, registered in the catalog.

The bytes are written by ``labledger.materializers``: a folder becomes a *tree* (each file a blob,
plus a manifest blob listing ``(path, digest, size)``), a DataFrame Parquet, and so on. This module
records what was written (through the workspace's ``ArtifactStore``) and reads it back out.
"""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.materializers.paths import read_manifest, write_tree
from labledger.materializers.registry import save as materialize
from labledger.stores.artifacts import NewArtifact
from labledger.stores.pages import MAX_PAGE_SIZE
from labledger.tracking.checks import MAX_NAME, check_name, storable_text
from labledger.tracking.types import Artifact
from labledger.workspace.blob_export import export_blob, name_problem
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = [
    "export_artifact",
    "get_artifact",
    "list_artifacts",
    "read_tree",
    "store_artifact",
]


def store_artifact(
    workspace: Workspace,
    value: Any,
    *,
    name: str | None = None,
    run_id: str | None = None,
    project_id: str | None = None,
) -> Artifact:
    """Store ``value`` and record it as an artifact of ``run_id`` (in the run's project, which
    ``project_id`` names when the caller knows it), or of no run (in ``project_id``, by default
    the workspace's ``default`` project).

    A ``str`` or ``os.PathLike`` names a file or folder; anything else is stored by the
    materializer for its type (see ``labledger.materializers``).
    """
    if name is not None and name != "":
        check_name(name, "artifact")  # before storing anything
    default_name: str | None = None
    if isinstance(value, str | os.PathLike):
        value = Path(value)
        if not value.exists():
            raise NotFoundError(
                f"no file or folder at {value}",
                hint="check the path; to store text or values, pass bytes, a dict or a list",
            )
        # A file name may hold bytes that are not UTF-8 (escaped as lone surrogates).
        default_name = storable_text(value.name)[:MAX_NAME]
    stored = materialize(value, workspace.store)
    digest, size, kind, fmt = stored.digest, stored.size, stored.kind, stored.format
    schema_doc, stats = stored.schema, stored.stats
    default_name = default_name or f"{kind}-{digest[7:15]}"
    name = name or default_name
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
    new = NewArtifact(artifact, project_id or workspace.project_id(), tuple(stored.blobs))
    return workspace.stores.artifacts.add_artifacts([new])[0]


def get_artifact(ref: str, *, workspace: Workspace | None = None) -> Artifact:
    """An artifact by id, unique id prefix, name (the newest of that name), digest, or digest
    prefix of 8 hex characters or more (as tables show digests; the newest artifact of it).

    Raises:
        NotFoundError: Nothing matches.
        AmbiguousReferenceError: An id prefix matches several artifacts.
    """
    workspace = workspace or get_workspace()
    return workspace.stores.artifacts.get_artifacts([ref])[0]


def list_artifacts(
    *,
    run_id: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
    workspace: Workspace | None = None,
) -> list[Artifact]:
    """Artifacts, newest first, optionally of one run or kind.

    The artifacts of a run are every output of it: those it made, and those its pipeline tasks
    reused from the cache (their ``run_id`` is the run that made them).
    """
    workspace = workspace or get_workspace()
    store = workspace.stores.artifacts
    found: list[Artifact] = []
    token: str | None = None
    while len(found) < limit:
        page = store.list_artifacts(
            run_id=run_id,
            kind=kind,
            page_token=token,
            max_results=min(limit - len(found), MAX_PAGE_SIZE),
        )
        found += page.items
        token = page.next_token
        if token is None:
            break
    return found


def read_tree(workspace: Workspace, digest: str) -> list[dict[str, Any]]:
    """The entries (path, digest, size) of a tree manifest."""
    return read_manifest(workspace.store, digest)


def export_artifact(
    artifact: Artifact | str,
    destination: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    workspace: Workspace | None = None,
) -> Path:
    """Write an artifact's bytes (a file, or a folder for trees) to ``destination``.

    ``destination`` is a folder when it ends with ``/`` or is an existing folder: it is created
    when missing and the file is written inside it, named after the artifact (only the last part
    of the name, so a name can never lead outside the folder). Otherwise it is the file to write.
    A tree always makes (or fills) the folder ``destination``. Without a destination a file goes
    into the current folder and a tree into a new folder named after it.

    Every byte is checked against the artifact's digest while it is copied, into a temporary
    file renamed into place only when it matches (a tree: a staging folder), so a damaged blob
    leaves nothing at the destination.

    Args:
        artifact: An ``Artifact`` or a reference ``get_artifact`` accepts.
        destination: A file path, or a folder to write into.
        overwrite: Replace files that are already there.
        workspace: Defaults to the current workspace.

    Returns:
        The path written.

    Raises:
        ValidationError: A file is in the way and ``overwrite`` is false; the destination, or a
            folder or file inside it, is a symbolic link; the artifact's name cannot be a file
            name and no destination names one; a tree entry would land outside the destination
            (``..``, an absolute path, a drive letter, a control character) or clashes with
            another; or the artifact is a file input recorded by reference only (its bytes are
            not in the workspace).
        IntegrityError: The stored bytes do not match their digest; nothing is written.
    """
    workspace = workspace or get_workspace()
    if isinstance(artifact, str):
        artifact = get_artifact(artifact, workspace=workspace)
    if artifact.kind == "reference":
        source = artifact.schema.get("source") or artifact.schema.get("path") or "?"
        raise ValidationError(
            f"{artifact.name!r} was recorded by reference only (File(path, store=False)): the "
            f"workspace keeps its path, size and digest ({artifact.schema.get('digest')}), not "
            f"its bytes, which were read from {source}",
            hint="copy the file from there, and compare its digest; store it with File(path) "
            "next time to export it from the workspace",
        )
    what = f"artifact {artifact.name!r} ({artifact.id})"
    store = workspace.store
    if destination is None:
        # A tree spills many files: give it its own folder rather than the current one.
        if artifact.kind == "tree":
            return write_tree(
                store, artifact.digest, Path(_base_name(artifact)), overwrite=overwrite, what=what
            )
        return export_blob(
            store, artifact.digest, Path(), _file_name(artifact), overwrite=overwrite, what=what
        )
    as_folder = str(destination).endswith(("/", os.sep))
    destination = Path(destination)
    if artifact.kind == "tree":
        return write_tree(store, artifact.digest, destination, overwrite=overwrite, what=what)
    if as_folder or (destination.is_dir() and not destination.is_symlink()):
        name = _file_name(artifact)
        return export_blob(
            store, artifact.digest, destination, name, overwrite=overwrite, what=what
        )
    return export_blob(
        store,
        artifact.digest,
        destination.parent,
        destination.name,
        overwrite=overwrite,
        what=what,
    )


def _base_name(artifact: Artifact) -> str:
    """The last part of the artifact's name, refused when it cannot name a file or folder."""
    base = PurePosixPath(artifact.name.replace("\\", "/")).name
    why = name_problem(base)
    if why is not None:
        example = "./exported" if artifact.kind == "tree" else f"./exported.{artifact.format}"
        raise ValidationError(
            f"artifact {artifact.name!r} ({artifact.id}) cannot be written under its own name: "
            f"{why}",
            hint="pass a destination that names the file or folder to write, e.g. "
            f"`labledger artifacts get {artifact.id} {example}`",
        )
    return base


def _file_name(artifact: Artifact) -> str:
    """A file name for the artifact inside a folder: never empty, ``.``, ``..`` or a path."""
    base = _base_name(artifact)
    return base if "." in base else f"{base}.{artifact.format}"
