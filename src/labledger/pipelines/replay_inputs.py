"""The file inputs of a recorded run, put back in place for its re-execution.

A file input is an artifact a task of the run read (``task_inputs``) that no task produced, of
kind ``file``, ``tree`` or ``reference``; its schema holds the path as the step was given it and
the absolute path it was read from. A reproduction re-creates them in a scratch working folder:

- an input given by a relative path (``data/assay.csv``, ``../shared.csv``) is written at that
  path from the working folder, which is nested deep enough in the scratch folder that ``..``
  stays inside it, so the step finds it by the same path, whether it was an argument or declared
  with ``@step(reads=...)``;
- an input given by an absolute path is written to a separate scratch folder and the run is told
  where (its ``path_map``);
- an input recorded by reference only (``File(path, store=False)``) is copied from where it was
  read, and only if the copy has the recorded digest.

Nothing is linked and nothing is written outside the scratch folder.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import LabledgerError, NotFoundError, ValidationError
from labledger.materializers.paths import write_tree
from labledger.workspace.blob_export import export_blob, name_problem
from labledger.workspace.stat_cache import StatCache

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["RecordedInput", "place_inputs", "recorded_inputs", "working_folder"]

_KINDS = ("file", "tree", "reference")
_MAX_CLIMB = 32


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
        """Given relative to the working folder (``..`` included), not absolute."""
        pure = PurePath(self.path)
        return not pure.is_absolute() and not pure.drive and _climb(self.path) <= _MAX_CLIMB


def _climb(path: str) -> int:
    """How many folders above the working folder ``path`` reaches at most (``../../x``: 2)."""
    depth = highest = 0
    for part in PurePath(path).parts:
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        highest = max(highest, -depth)
    return highest


def working_folder(base: Path, inputs: list[RecordedInput]) -> Path:
    """The re-run's working folder under ``base``, deep enough that every relative input path,
    ``..`` included, lands inside ``base``: a step opening ``../shared.csv`` by name reads the
    recorded copy, never a file outside the reproduction."""
    depth = max((_climb(item.path) for item in inputs if item.relative), default=0)
    folder = base.joinpath(*(f"up{level}" for level in range(depth)), "work")
    folder.mkdir(parents=True)
    return folder


def recorded_inputs(workspace: Workspace, run_id: str) -> list[RecordedInput]:
    """The file inputs run ``run_id``'s tasks read, once per path, in path order."""
    rows = workspace.stores.tasks.run_file_inputs(run_id)
    found: dict[str, RecordedInput] = {}
    for row in rows:
        described = _schema(row.schema_json)
        path = str(described.get("path") or row.artifact_name)
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
        if item.relative:
            target = _inside(workdir, item.path)
        else:
            name = PurePath(item.path).name
            name = name if name_problem(name) is None else "input"
            target = elsewhere / f"{index}-{name}"
            path_map[item.path] = str(target)
        if item.kind == "reference":
            _copy_reference(item, target)
        else:
            _write(item, store, target)
    return path_map


def _inside(workdir: Path, path: str) -> Path:
    """Where a relative input goes: under the scratch folder that holds ``workdir``, never out."""
    target = Path(os.path.normpath(workdir / path))
    climb = _climb(path)
    base = workdir.parents[climb - 1] if climb else workdir
    if not target.is_relative_to(base) or target == base:
        raise ValidationError(
            f"input path {path!r} of the run does not name a file under its working folder",
            hint="the run's records may have been edited; run `labledger verify`",
        )
    return target


def _write(item: RecordedInput, store: BlobStore, target: Path) -> None:
    """Write a stored input, every byte checked against its digest (``IntegrityError`` if not)."""
    what = f"input {item.path!r}"
    try:
        if item.kind == "tree":
            # Overwrite: a folder input and a file input inside it hold the same bytes.
            write_tree(store, item.digest, target, overwrite=True, what=what)
            return
        export_blob(store, item.digest, target.parent, target.name, overwrite=True, what=what)
    except (NotFoundError, OSError) as exc:
        raise NotFoundError(
            f"input {item.path!r} of the run cannot be read from the blob store "
            f"({item.digest}): {exc}",
            hint="run `labledger verify` to see what is missing; the run cannot be reproduced "
            "without it",
        ) from exc


def _copy_reference(item: RecordedInput, target: Path) -> None:
    """Copy an input recorded by reference into the scratch folder, if it still has its bytes.

    A copy, never a link: the re-run may write next to its inputs, and nothing it does may reach
    the user's files. The copy is hashed, so bytes that change while being copied are refused.
    """
    what = f"{item.path!r} ({item.source})"
    hint = (
        "restore the original bytes, or run the pipeline again with File(path) (stored) so it "
        "can be reproduced from anywhere"
    )
    try:
        if item.of == "tree":
            shutil.copytree(item.source, target, symlinks=True, dirs_exist_ok=True)
            copied = StatCache(None).hash_folder(target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.source, target)
            copied = StatCache(None).hash_file(target)
    except (LabledgerError, OSError) as exc:
        reason = exc.message if isinstance(exc, LabledgerError) else str(exc)
        raise ValidationError(
            f"input {what} was recorded with store=False, so only its path and digest were "
            f"kept, and it cannot be read now: {reason}",
            hint=hint,
        ) from None
    if copied.digest != item.content:
        raise ValidationError(
            f"input {what} was recorded with store=False, so only its path and digest were "
            f"kept, and its bytes changed since (recorded {item.content}, now {copied.digest})",
            hint=hint,
        )
