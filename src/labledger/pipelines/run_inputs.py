"""The file inputs of one run: each hashed once, stored once and registered as one artifact.

Tasks of a run that read the same file share its digest and artifact. An artifact already in the
catalog with the same name, kind and digest (the same file read by an earlier run) is reused, so a
file read by a thousand runs is one artifact with a thousand readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger._foundation.errors import LabledgerError, NotFoundError, ValidationError
from labledger.pipelines.file_inputs import content_digest, input_stored, resolve_input
from labledger.workspace import schema
from labledger.workspace.stat_cache import StatCache, default_cache_path

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.materializers import Stored
    from labledger.pipelines.file_inputs import FileInput
    from labledger.pipelines.recorder import TaskRecorder
    from labledger.workspace.stat_cache import HashedPath
    from labledger.workspace.workspace import Workspace

__all__ = ["ResolvedInput", "RunInputs"]

_a = schema.artifacts


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
        if found is None:
            try:
                found = resolve_input(item, self.stat_cache, self.path_map)
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
        """Input name -> the input hashed, stored and registered as an artifact."""
        resolved: dict[str, ResolvedInput] = {}
        for item in items:
            key = (item.path, item.kind, item.store)
            found = self._resolved.get(key)
            if found is None:
                found = self._register(item, self.hashed(item, step))
                self._resolved[key] = found
            resolved[item.name] = found
        return resolved

    def _register(self, item: FileInput, hashed: HashedPath) -> ResolvedInput:
        if self.recorder is None:
            return ResolvedInput(hashed.digest, None, None)
        try:
            stored = input_stored(hashed, item, self.workspace.store)
        except OSError as exc:
            raise LabledgerError(
                f"cannot store {item.path!r} in the blob store: {exc}",
                hint="check the store's free space and permissions, or pass store=False",
            ) from exc
        artifact_id = self._existing(item.path, stored) or self.recorder.source(stored, item.path)
        return ResolvedInput(content_digest(stored), artifact_id, stored)

    def _existing(self, name: str, stored: Stored) -> str | None:
        query = (
            select(_a.c.id)
            .where(_a.c.digest == stored.digest, _a.c.name == name, _a.c.kind == stored.kind)
            .order_by(_a.c.created_at)
            .limit(1)
        )
        with self.workspace.read() as conn:
            found = conn.execute(query).scalar()
        return str(found) if found is not None else None


def _where(item: FileInput) -> str:
    if item.locator is None:
        return "declared with @step(reads=...)"
    return f"argument {item.name!r}"
