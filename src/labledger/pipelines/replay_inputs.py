"""The file inputs of a recorded run, put back in place for its re-execution.

A file input is an artifact a task of the run read (``task_inputs``) that no task produced, of
kind ``file``, ``tree`` or ``reference``; its schema holds the path as the step was given it and
the absolute path it was read from. A reproduction re-creates them in a scratch working folder:

- a stored input given by a relative path inside the working folder (``data/assay.csv``) is
  written there at that path, so the step finds it by the same relative path, whether it was an
  argument or declared with ``@step(reads=...)``;
- a stored input given by an absolute path or one with ``..`` is written to a separate folder and
  the run is told where (its ``path_map``);
- an input recorded by reference only (``File(path, store=False)``) is used where it was read,
  and only if its bytes still have the recorded digest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import LabledgerError, NotFoundError, ValidationError
from labledger.materializers.paths import copy_blob, write_tree
from labledger.workspace import schema
from labledger.workspace.stat_cache import StatCache

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["RecordedInput", "place_inputs", "recorded_inputs"]

_KINDS = ("file", "tree", "reference")


@dataclass(frozen=True, slots=True)
class RecordedInput:
    """A file or folder a run read.

    Attributes:
        path: The path as the step was given it.
        source: The absolute path it was read from.
        kind: ``file``, ``tree`` or ``reference`` (not stored: only its path and digest).
        digest: The stored blob (a file's bytes, a tree's manifest, or the reference record).
        content: The digest of its bytes when it was read (for a reference, what was recorded).
        of: What a reference points at: ``file`` or ``tree``.
    """

    path: str
    source: str
    kind: str
    digest: str
    content: str
    of: str

    @property
    def relative(self) -> bool:
        """Given relative to the working folder, and staying inside it."""
        pure = PurePath(self.path)
        return not pure.is_absolute() and not pure.drive and ".." not in pure.parts


def recorded_inputs(workspace: Workspace, run_id: str) -> list[RecordedInput]:
    """The file inputs run ``run_id``'s tasks read, once per path, in path order."""
    t, i, a, o = schema.tasks, schema.task_inputs, schema.artifacts, schema.task_outputs
    produced = select(o.c.artifact_id).where(o.c.artifact_id == a.c.id).exists()
    query = (
        select(a.c.id, a.c.name, a.c.kind, a.c.format, a.c.digest, a.c.schema_json)
        .select_from(t.join(i, i.c.task_id == t.c.id).join(a, a.c.id == i.c.artifact_id))
        .where(t.c.run_id == run_id, a.c.kind.in_(_KINDS), ~produced)
        .order_by(a.c.name, a.c.id)
    )
    with workspace.read() as conn:
        rows = conn.execute(query).all()
    found: dict[str, RecordedInput] = {}
    for row in rows:
        described = _schema(row.schema_json)
        path = str(described.get("path") or row.name)
        found.setdefault(
            path,
            RecordedInput(
                path=path,
                source=str(described.get("source") or path),
                kind=row.kind,
                digest=row.digest,
                content=str(described.get("digest") or row.digest),
                of=row.format if row.kind == "reference" else row.kind,
            ),
        )
    return list(found.values())


def _schema(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def place_inputs(
    inputs: list[RecordedInput], store: BlobStore, *, workdir: Path, elsewhere: Path
) -> dict[str, str]:
    """Put each input where the re-execution reads it; return the run's ``path_map``.

    Args:
        inputs: From ``recorded_inputs``.
        store: The blob store holding them.
        workdir: The re-execution's working folder (inputs with relative paths go there).
        elsewhere: Where inputs given by absolute or ``..`` paths go.

    Raises:
        ValidationError: An input recorded by reference changed or is gone.
        NotFoundError: A stored input's blob is missing from the store.
    """
    path_map: dict[str, str] = {}
    for index, item in enumerate(inputs):
        if item.kind == "reference":
            _check_reference(item)
            if item.relative:
                _link(workdir / item.path, item.source, path_map, item.path)
            elif item.path != item.source:
                path_map[item.path] = item.source
            continue
        if item.relative:
            target = workdir / item.path
        else:
            name = PurePath(item.path).name or "input"
            target = elsewhere / f"{index}-{name}"
            path_map[item.path] = str(target)
        _write(item, store, target)
    return path_map


def _write(item: RecordedInput, store: BlobStore, target: Path) -> None:
    try:
        if item.kind == "tree":
            write_tree(store, item.digest, target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_blob(store, item.digest, target)
    except (NotFoundError, OSError) as exc:
        raise NotFoundError(
            f"input {item.path!r} of the run cannot be read from the blob store "
            f"({item.digest}): {exc}",
            hint="run `labledger verify` to see what is missing; the run cannot be reproduced "
            "without it",
        ) from exc


def _link(target: Path, source: str, path_map: dict[str, str], path: str) -> None:
    """A link at the relative path to where the file is, so steps that open it by name find it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source, target_is_directory=os.path.isdir(source))
    except OSError:  # no links here (some Windows setups): arguments still get the real path
        path_map[path] = source


def _check_reference(item: RecordedInput) -> None:
    what = f"{item.path!r} ({item.source})"
    cache = StatCache(None)
    try:
        hashed = (
            cache.hash_folder(item.source) if item.of == "tree" else (cache.hash_file(item.source))
        )
    except LabledgerError as exc:
        raise ValidationError(
            f"input {what} was recorded with store=False, so only its path and digest were "
            f"kept, and it cannot be read now: {exc.message}",
            hint="put the file back at that path with the same bytes, or run the pipeline "
            "again with File(path) (stored) so it can be reproduced from anywhere",
        ) from None
    if hashed.digest != item.content:
        raise ValidationError(
            f"input {what} was recorded with store=False, so only its path and digest were "
            f"kept, and its bytes changed since (recorded {item.content}, now {hashed.digest})",
            hint="restore the original bytes, or run the pipeline again with File(path) "
            "(stored) so it can be reproduced from anywhere",
        )
