"""Cache keys and cache lookups.

A task's cache key is ``blake3(canonical_json({fingerprint, inputs, params, environment, seed,
outputs, salt}))``, with ``params`` the canonical JSON text of the step's literal arguments and
``inputs`` the digests of the step outputs and the files it reads: it changes exactly when the
step's code, an input's bytes, a literal argument, the packages the step uses or the seed change.
A lookup is one indexed query; a result whose bytes are not all in the store (for a folder: its
manifest and every file) is never a hit.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select

from labledger._foundation.digests import digest_record
from labledger.materializers import Stored
from labledger.workspace import schema
from labledger.workspace.presence import missing_digests

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = [
    "CACHE_SALT",
    "CacheHit",
    "CacheReader",
    "OutputRef",
    "cache_key",
]

# Bump to invalidate every cache entry written by an older labledger; LABLEDGER_CACHE_SALT lets a
# team do the same for its own reasons.
CACHE_SALT = "labledger-cache/3"


def cache_key(
    *,
    fingerprint: str,
    inputs: Mapping[str, str],
    params_json: str,
    environment: str,
    seed: int,
    outputs: tuple[str, ...],
) -> str:
    """The cache key of a task (see the module docstring).

    Args:
        fingerprint: The step's code fingerprint.
        inputs: Input name -> digest of its bytes: step outputs it reads, and files and folders.
        params_json: The canonical JSON text of the literal arguments (``canonical_text``).
        environment: The step's environment fingerprint (``step_environment``).
        seed: The task's seed.
        outputs: The step's output names.
    """
    return digest_record(
        {
            "fingerprint": fingerprint,
            "inputs": inputs,
            "params": params_json,
            "environment": environment,
            "seed": seed,
            "outputs": outputs,
            "salt": os.environ.get("LABLEDGER_CACHE_SALT", "") + CACHE_SALT,
        }
    )


@dataclass(frozen=True, slots=True)
class OutputRef:
    """One output of a finished task: the artifact that holds it and how to load it."""

    artifact_id: str
    stored: Stored


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A finished task whose outputs can be reused.

    Attributes:
        task_id: The task.
        outputs: Its outputs by name.
        run_id: The run it belongs to.
        logged_digest: The blob of the metrics and tags it logged, if it logged any.
    """

    task_id: str
    outputs: dict[str, OutputRef]
    run_id: str | None = None
    logged_digest: str | None = None


_t, _o, _a, _p = schema.tasks, schema.task_outputs, schema.artifacts, schema.pipeline_runs
_r = schema.runs
_LOOKUP = (
    select(
        _t.c.id,
        _t.c.ended_at,
        _t.c.run_id,
        _t.c.logged_digest,
        _o.c.name,
        _o.c.materializer,
        _a.c.id.label("artifact_id"),
        _a.c.digest,
        _a.c.size,
        _a.c.kind,
        _a.c.format,
        _a.c.schema_json,
    )
    .select_from(
        # Every output of a task that ran, its own or (computed at the same time by another run)
        # the equal one it was linked to: its sealed run vouches for either.
        _t.join(_o, _o.c.task_id == _t.c.id)
        .join(_a, _a.c.id == _o.c.artifact_id)
        .join(_p, _p.c.run_id == _t.c.run_id)
        .join(_r, _r.c.id == _t.c.run_id)
    )
    .where(
        _t.c.cache_key == bindparam("key"),
        _t.c.status == "finished",
        # A reproduction checks a run; what it computed is evidence, never a cache entry.
        _p.c.reproduces.is_(None),
        # Only what a sealed run vouches for (or the asking run itself): a task row written into
        # a run that never sealed proves nothing.
        or_(_r.c.record_digest.is_not(None), _t.c.run_id == bindparam("run_id")),
    )
    .order_by(_t.c.ended_at.desc())
)


_SQLITE_LOOKUP = (
    "SELECT t.id, t.ended_at, t.run_id, t.logged_digest, o.name, o.materializer, a.id, a.digest, a.size, a.kind, a.format, "
    "a.schema_json FROM tasks AS t "
    "JOIN task_outputs AS o ON o.task_id = t.id "
    "JOIN artifacts AS a ON a.id = o.artifact_id "
    "JOIN pipeline_runs AS p ON p.run_id = t.run_id "
    "JOIN runs AS r ON r.id = t.run_id "
    "WHERE t.cache_key = ? AND t.status = 'finished' AND p.reproduces IS NULL "
    "AND (r.record_digest IS NOT NULL OR t.run_id = ?) "
    "ORDER BY t.ended_at DESC"
)


class CacheReader:
    """Answers cache lookups for one run: only tasks of sealed runs, or of ``run_id`` itself.

    On SQLite it keeps one driver connection in autocommit mode: each lookup is a single indexed
    query that sees every commit made so far, without a transaction or a pool checkout around it.
    """

    def __init__(self, workspace: Workspace, run_id: str | None = None) -> None:
        self.workspace = workspace
        self.run_id = run_id or ""  # the asking run: its own finished tasks count before its seal
        self._raw: Any = None
        if workspace.catalog.dialect == "sqlite":
            self._raw = workspace.catalog.reader.raw_connection()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _rows(self, key: str) -> list[tuple[Any, ...]]:
        if self._raw is not None:
            return self._raw.driver_connection.execute(  # type: ignore[no-any-return]
                _SQLITE_LOOKUP, (key, self.run_id)
            ).fetchall()
        with self.workspace.read() as conn:
            return [
                tuple(row) for row in conn.execute(_LOOKUP, {"key": key, "run_id": self.run_id})
            ]

    def recorded(self, key: str) -> bool:
        """Whether a finished task with ``key`` is recorded, usable or not."""
        return bool(self._rows(key))

    def lookup(
        self, key: str, *, outputs: tuple[str, ...], expiry: float | None = None
    ) -> CacheHit | None:
        """The newest finished task with ``key`` whose outputs are all still in the store."""
        return _pick(self._rows(key), self.workspace.store, outputs, expiry)


def _pick(
    rows: list[tuple[Any, ...]],
    store: BlobStore,
    outputs: tuple[str, ...],
    expiry: float | None,
) -> CacheHit | None:
    found: dict[str, dict[str, OutputRef]] = {}
    owners: dict[str, tuple[str, str | None]] = {}
    order: list[str] = []
    oldest = time.time() - expiry if expiry is not None else None
    for (
        task_id,
        ended_at,
        run_id,
        logged_digest,
        name,
        materializer,
        artifact_id,
        digest,
        size,
        kind,
        fmt,
        schema_json,
    ) in rows:
        if oldest is not None and (ended_at or 0) < oldest:
            continue
        if task_id not in found:
            found[task_id] = {}
            owners[task_id] = (run_id, logged_digest)
            order.append(task_id)
        found[task_id][name] = OutputRef(
            artifact_id,
            Stored(
                digest=digest,
                size=size,
                kind=kind,
                format=fmt,
                materializer=materializer,
                schema=json.loads(schema_json),
                stats={},
                blobs=(),
            ),
        )
    for task_id in order:
        refs = found[task_id]
        if set(refs) != set(outputs):
            continue
        blobs = [(ref.stored.digest, ref.stored.kind == "tree") for ref in refs.values()]
        if not missing_digests(store, blobs):
            return CacheHit(task_id, refs, *owners[task_id])
    return None
