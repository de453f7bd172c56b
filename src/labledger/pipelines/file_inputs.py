"""Files and folders a step reads: part of its cache key by content, and inputs in its lineage.

A step's literal argument is a *file input* when it is

- a ``labledger.File(path)`` or ``labledger.Folder(path)`` (the step receives a ``pathlib.Path``);
- a ``pathlib.Path`` naming an existing file or folder (the step receives it as given);
- a ``str`` naming an existing file, or an existing folder when the step's parameter is annotated
  ``Path`` (the step receives the string as given);

alone or inside a list, tuple or dict. ``@step(reads=[...])`` declares paths the step opens by
name in its code. A plain string naming an existing *folder* is not read (it may be where a step
writes, or a very large tree): it raises a ``FolderArgumentWarning`` naming the fix.

Each file input enters the task's cache key by the digest of its bytes (a folder by its tree digest),
hashed through a stat cache, so unchanged files cost one ``stat``. It is stored in the blob store
and registered as an artifact (named by its path, reused while the bytes are the same), which the
task reads in lineage; ``File(path, store=False)`` records only a reference (path, digest, size),
which leaves the lineage below it ``unverifiable``.
"""

from __future__ import annotations

import os
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import PipelineDefinitionError, ValidationError
from labledger.materializers import Stored

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.pipelines.steps import Step
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.stat_cache import HashedPath, StatCache

__all__ = [
    "File",
    "FileInput",
    "Folder",
    "FolderArgumentWarning",
    "Locator",
    "content_digest",
    "declared_reads",
    "find_file_inputs",
    "input_stored",
    "place_paths",
    "resolve_input",
]

Locator = tuple[str | int, ...]
REFERENCE_KIND = "reference"


class FolderArgumentWarning(UserWarning):
    """A step argument names a folder whose contents are not part of the step's cache key."""


class InputChangedWarning(UserWarning):
    """A file or folder changed while a step that reads it ran: its result is not cached."""


class File(os.PathLike[str]):
    """A file a step reads: its bytes are part of the step's cache key and lineage.

    Args:
        path: The file, absolute or relative to the working folder.
        store: Keep a copy in the blob store (the default), so the run can be reproduced from
            anywhere; ``False`` records only its path and digest (the lineage is then
            ``unverifiable``), for inputs too large or too sensitive to copy.

    Example:
        ``clean(read_plate(labledger.File("data/plate-01.csv")))`` re-runs ``read_plate`` whenever
        the file's bytes change, and never when only its modification time does.
    """

    kind = "file"
    __slots__ = ("path", "store")

    def __init__(self, path: str | os.PathLike[str], *, store: bool = True) -> None:
        if not isinstance(path, str | os.PathLike):
            raise PipelineDefinitionError(
                f"{type(self).__name__}() takes a path, got {type(path).__name__}",
                hint=f'e.g. labledger.{type(self).__name__}("data/assay.csv")',
            )
        self.path: str = os.fspath(path)
        self.store: bool = bool(store)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        extra = "" if self.store else ", store=False"
        return f"{type(self).__name__}({self.path!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.path, self.store) == (other.path, other.store)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.path, self.store))


class Folder(File):
    """A folder a step reads: every file under it is part of the step's cache key and lineage.

    Args:
        path: The folder, absolute or relative to the working folder.
        store: As for ``File``.
    """

    kind = "folder"
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FileInput:
    """One file or folder a task reads.

    Attributes:
        name: The input's name on the task: the argument (``path``, ``paths.0``, ``files.raw``),
            or ``reads:<path>`` for a path declared with ``@step(reads=...)``.
        path: The path as given.
        kind: ``file``, ``folder`` or ``any`` (whichever exists).
        store: Whether a copy goes into the blob store.
        locator: Where the path sits in the step's arguments (argument name, then indices or keys);
            ``None`` when the step opens it by name.
        as_path: The step receives a ``pathlib.Path`` (else the string as given).
    """

    name: str
    path: str
    kind: str
    store: bool = True
    locator: Locator | None = None
    as_path: bool = False


def _annotated_path(step: Step, name: str) -> bool:
    try:
        hints = typing.get_type_hints(step.func)
    except Exception:  # unresolvable annotations only cost the hint
        return False
    hint = hints.get(name)
    return hint is not None and (hint is Path or hint is PurePath or Path in typing.get_args(hint))


def find_file_inputs(step: Step, name: str, value: Any) -> list[FileInput]:
    """The file inputs inside the literal argument ``name`` of a step call.

    Raises:
        PipelineDefinitionError: A ``File`` or ``Folder`` is not a path.
    """
    found: list[FileInput] = []
    path_hint: list[bool] = []

    def wants_path() -> bool:
        if not path_hint:
            path_hint.append(_annotated_path(step, name))
        return path_hint[0]

    def visit_text(item: str, label: str, locator: Locator) -> None:
        if not item or len(item) > 4096:
            return
        if os.path.isfile(item):
            found.append(FileInput(label, item, "file", True, locator))
        elif os.path.isdir(item):
            if wants_path():
                found.append(FileInput(label, item, "folder", True, locator))
                return
            warnings.warn(
                f"argument {label!r} of step {step.name!r} names the folder {item!r}; "
                "its files are not part of the step's cache key, so a change inside it "
                f"would not re-run the step. Pass labledger.Folder({item!r}) to make them "
                "part of it (or annotate the parameter as pathlib.Path)",
                FolderArgumentWarning,
                stacklevel=6,
            )

    def visit(item: Any, locator: Locator) -> None:
        label = ".".join(str(part) for part in locator)
        if isinstance(item, File):
            found.append(FileInput(label, item.path, item.kind, item.store, locator, as_path=True))
        elif isinstance(item, PurePath):
            if os.path.exists(item):
                found.append(FileInput(label, os.fspath(item), "any", True, locator, as_path=True))
        elif isinstance(item, str):
            visit_text(item, label, locator)
        elif isinstance(item, list | tuple):
            for index, inner in enumerate(item):
                visit(inner, (*locator, index))
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str):
                    visit(inner, (*locator, key))

    visit(value, (name,))
    return found


def declared_reads(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
) -> tuple[FileInput, ...]:
    """The ``reads=`` of a step as file inputs (the step opens them itself, by name).

    Raises:
        PipelineDefinitionError: An entry is not a path.
    """
    if paths is None:
        return ()
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    reads: list[FileInput] = []
    for entry in paths:
        if isinstance(entry, File):
            reads.append(FileInput(f"reads:{entry.path}", entry.path, entry.kind, entry.store))
        elif isinstance(entry, str | os.PathLike):
            path = os.fspath(entry)
            reads.append(FileInput(f"reads:{path}", path, "any", True))
        else:
            raise PipelineDefinitionError(
                f"reads= takes paths, got {type(entry).__name__}",
                hint='e.g. @step(reads=["data/assay.csv", labledger.Folder("refs")])',
            )
    return tuple(reads)


def place_paths(
    arguments: dict[str, Any], files: Iterable[FileInput], path_map: Mapping[str, str]
) -> dict[str, Any]:
    """``arguments`` with each file input's value replaced by what the step receives.

    That is a ``Path`` where the step asked for one, and the path ``path_map`` maps it to (where a
    reproduction placed the recorded bytes). Containers on the way are copied, never changed.
    """
    for item in files:
        if item.locator is None:
            continue
        actual = path_map.get(item.path, item.path)
        value: Any = Path(actual) if item.as_path else actual
        if not item.as_path and actual == item.path:
            continue
        arguments = _replaced(arguments, item.locator, value)
    return arguments


def _replaced(container: Any, locator: Locator, value: Any) -> Any:
    if not locator:
        return value
    head, rest = locator[0], locator[1:]
    if isinstance(container, dict):
        copy = dict(container)
        copy[head] = _replaced(container[head], rest, value)
        return copy
    assert isinstance(head, int)
    items = list(container)
    items[head] = _replaced(items[head], rest, value)
    return tuple(items) if isinstance(container, tuple) else items


def input_stored(hashed: HashedPath, item: FileInput, store: BlobStore) -> Stored:
    """Put a hashed input into the store (unless it is a reference) and describe what was stored.

    Only bytes the store lacks are written. A file that changed between hashing and storing is
    refused: the digest in the cache key would not be the bytes kept.

    Raises:
        ValidationError: The file changed while it was being read.
    """
    name = os.path.basename(hashed.path.rstrip("/")) or hashed.path
    schema = {"name": name, "path": item.path, "source": hashed.path}
    if not item.store:
        reference = canonical_json(
            {
                "kind": REFERENCE_KIND,
                "of": hashed.kind,
                "path": hashed.path,
                "digest": hashed.digest,
                "size": hashed.size,
            }
        )
        digest = store.put(reference)
        return Stored(
            digest=digest,
            size=len(reference),
            kind=REFERENCE_KIND,
            format=hashed.kind,
            materializer="path",
            schema={**schema, "digest": hashed.digest, "size": hashed.size},
            stats={"bytes": hashed.size},
            blobs=((digest, len(reference)),),
        )
    if hashed.kind == "file":
        if not store.exists(hashed.digest):
            _put_same(store, hashed.path, hashed.digest)
        return Stored(
            digest=hashed.digest,
            size=hashed.size,
            kind="file",
            format=Path(hashed.path).suffix.lstrip(".").lower() or "bin",
            materializer="path",
            schema=schema,
            stats={"bytes": hashed.size},
            blobs=((hashed.digest, hashed.size),),
        )
    from labledger.workspace.blobstore import exists_many

    present = exists_many(store, [entry.digest for entry in hashed.entries])
    for entry in hashed.entries:
        if not present.get(entry.digest):
            _put_same(store, os.path.join(hashed.path, entry.path), entry.digest)
            present[entry.digest] = True
    store.put(hashed.manifest)
    blobs = {entry.digest: entry.size for entry in hashed.entries}
    blobs[hashed.digest] = len(hashed.manifest)
    return Stored(
        digest=hashed.digest,
        size=len(hashed.manifest),
        kind="tree",
        format="tree",
        materializer="path",
        schema=schema,
        stats={"files": len(hashed.entries), "bytes": hashed.size},
        blobs=tuple(blobs.items()),
    )


def _put_same(store: BlobStore, path: str, digest: str) -> None:
    # A copy or a copy-on-write clone, never a hard link: the user goes on editing these files,
    # and a hard-linked blob would change with them.
    stored = store.put_file(path, link="reflink")
    if stored != digest:
        raise ValidationError(
            f"{path} changed while labledger was reading it",
            hint="run again once nothing is writing to it",
        )


def content_digest(stored: Stored) -> str:
    """The digest of an input's bytes: the stored blob's, or the one a reference records."""
    if stored.kind == REFERENCE_KIND:
        return str(stored.schema["digest"])
    return stored.digest


def resolve_input(
    item: FileInput,
    cache: StatCache,
    path_map: Mapping[str, str],
    skip: frozenset[str] = frozenset(),
) -> HashedPath:
    """Hash a file input where it is now (or where a reproduction placed it).

    Raises:
        NotFoundError: The file or folder is not there.
        ValidationError: A file where a folder was declared, or the other way round.
    """
    actual = path_map.get(item.path, item.path)
    if item.kind == "file":
        return cache.hash_file(actual)
    if item.kind == "folder":
        return cache.hash_folder(actual, skip=skip)
    return cache.hash_path(actual, skip=skip)
