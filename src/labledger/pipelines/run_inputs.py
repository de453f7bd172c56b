"""The file inputs of one run: each hashed once, stored once and registered as one artifact.

Tasks of a run that read the same file share its digest and artifact. An artifact already in the
catalog with the same name, kind and digest (the same file read by an earlier run) is reused, so a
file read by a thousand runs is one artifact with a thousand readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger._foundation.errors import LabledgerError, NotFoundError, ValidationError
from labledger.pipelines.file_inputs import content_digest, input_stored, resolve_input
from labledger.workspace.stat_cache import StatCache, default_cache_path

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.materializers import Stored
    from labledger.pipelines.file_inputs import FileInput
    from labledger.pipelines.recorder import TaskRecorder
    from labledger.workspace.stat_cache import HashedPath
    from labledger.workspace.workspace import Workspace

__all__ = ["ResolvedInput", "RunInputs"]

_LOOKUP_BATCH = 400  # artifacts looked up per query (two parameters each)


@dataclass(frozen=True, slots=True)
class ResolvedInput:
    """A file input as this run reads it.

    Attributes:
        digest: The digest of its bytes (a folder's tree digest): what the cache key holds.
        artifact_id: The artifact recording it (``None`` when only hashed).
        stored: The stored form (a file, a tree, or a reference).
    """

    digest: str
    artifact_id: str | None
    stored: Stored | None


class RunInputs:
    """Resolves the file inputs of a run's tasks.

    Args:
        workspace: Where inputs are stored and registered.
        recorder: Collects the artifact rows; ``None`` only hashes (for ``status``).
        path_map: Recorded path -> where the bytes are now (a reproduction's scratch folder).
    """

    def __init__(
        self,
        workspace: Workspace,
        recorder: TaskRecorder | None,
        *,
        path_map: Mapping[str, str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.recorder = recorder
        self.path_map = dict(path_map or {})
        self.stat_cache = StatCache(default_cache_path(workspace.settings.root))
        self._hashed: dict[tuple[str, str], HashedPath] = {}
        self._resolved: dict[tuple[str, str, bool], ResolvedInput] = {}
        self._names: dict[str, int] = {}  # input artifact names this run registered
        # A folder input holding the workspace (Folder(".")) leaves the workspace out: it changes
        # with every run.
        root = workspace.settings.root
        self._skip = frozenset({str(root.resolve())} if root is not None else ())
        # (name, digest, kind) -> the artifact recording those bytes under that name.
        self._artifacts: dict[tuple[str, str, str], str] = {}

    def close(self) -> None:
        """Remember what was hashed for next time."""
        self.stat_cache.close()

    def __enter__(self) -> RunInputs:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def hashed(self, item: FileInput, step: str) -> HashedPath:
        """The input hashed where it is now.

        Raises:
            NotFoundError, ValidationError: It is missing or of the wrong kind; the message names
                the step.
        """
        key = (item.path, item.kind)
        found = self._hashed.get(key)
        # Hashed earlier in this run, but an earlier step may have written it since: one stat
        # (a walk, for a folder) says whether the digest still holds.
        if found is None or found.changed():
            try:
                found = resolve_input(item, self.stat_cache, self.path_map, self._skip)
            except (NotFoundError, ValidationError) as exc:
                raise type(exc)(
                    f"step {step!r} reads {item.path!r} ({_where(item)}): {exc.message}",
                    hint=exc.hint,
                ) from None
            self._hashed[key] = found
        return found

    def changed(self, items: Iterable[FileInput]) -> list[str]:
        """Paths among ``items`` that changed since this run hashed them (a step may be reading
        bytes its cache key does not hold)."""
        return [
            item.path
            for item in items
            if (found := self._hashed.get((item.path, item.kind))) is not None and found.changed()
        ]

    def digests(self, items: Iterable[FileInput], step: str) -> dict[str, str]:
        """Input name -> digest of the bytes, without storing anything."""
        return {item.name: self.hashed(item, step).digest for item in items}

    def resolve(self, items: Iterable[FileInput], step: str) -> dict[str, ResolvedInput]:
        """Input name -> the input hashed, stored and registered as an artifact.

        The artifacts already in the catalog for the new inputs are looked up in one query, so a
        step reading thousands of files costs one round trip, not one per file.
        """
        items = list(items)
        new: dict[tuple[str, str, bool], tuple[FileInput, HashedPath]] = {}
        for item in items:
            hashed = self.hashed(item, step)
            key = (item.path, item.kind, item.store)
            known = self._resolved.get(key)
            if (known is None or known.digest != hashed.digest) and key not in new:
                new[key] = (item, hashed)
        if new:
            self._register(new)
        return {item.name: self._resolved[item.path, item.kind, item.store] for item in items}

    def _register(self, new: dict[tuple[str, str, bool], tuple[FileInput, HashedPath]]) -> None:
        if self.recorder is None:
            for key, (_, hashed) in new.items():
                self._resolved[key] = ResolvedInput(hashed.digest, None, None)
            return
        stored: dict[tuple[str, str, bool], Stored] = {}
        for key, (item, hashed) in new.items():
            try:
                stored[key] = input_stored(hashed, item, self.workspace.store)
            except OSError as exc:
                raise LabledgerError(
                    f"cannot store {item.path!r} in the blob store: {exc}",
                    hint="check the store's free space and permissions, or pass store=False",
                ) from exc
        self._find_existing((key[0], found) for key, found in stored.items())
        for key, found in stored.items():
            artifact = (key[0], found.digest, found.kind)
            artifact_id = self._artifacts.get(artifact)
            if artifact_id is None:
                name = self._new_name(key[0])
                artifact_id = self._artifacts[artifact] = self.recorder.source(found, name)
            self._resolved[key] = ResolvedInput(content_digest(found), artifact_id, found)

    def _new_name(self, path: str) -> str:
        """The name of a new input artifact: its path, or ``path#2``... when this run already
        registered other bytes under that path (a step rewrote the file)."""
        count = self._names.get(path, 0) + 1
        self._names[path] = count
        return path if count == 1 else f"{path}#{count}"

    def _find_existing(self, wanted: Iterable[tuple[str, Stored]]) -> None:
        """Remember the oldest artifact with each (name, digest, kind) of ``wanted`` that exists."""
        todo = {
            (name, found.digest, found.kind)
            for name, found in wanted
            if (name, found.digest, found.kind) not in self._artifacts
        }
        ordered = sorted(todo)
        for start in range(0, len(ordered), _LOOKUP_BATCH):
            batch = ordered[start : start + _LOOKUP_BATCH]
            rows = self.workspace.stores.tasks.find_artifacts(
                [name for name, _, _ in batch], [digest for _, digest, _ in batch]
            )
            for row in rows:
                if (row.name, row.digest, row.kind) in todo:
                    self._artifacts.setdefault((row.name, row.digest, row.kind), row.id)


def _where(item: FileInput) -> str:
    if item.locator is None:
        return "declared with @step(reads=...)"
    return f"argument {item.name!r}"
