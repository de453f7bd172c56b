"""Cache keys and cache lookups.

A task's cache key is ``blake3(canonical_json({fingerprint, inputs, params, environment, seed,
outputs, salt}))``, with ``params`` the canonical JSON text of the step's literal arguments and
``inputs`` the digests of the step outputs and the files it reads: it changes exactly when the
step's code, an input's bytes, a literal argument, the packages the step uses or the seed change.
A lookup is one indexed query; a result whose bytes are not all in the store (for a folder: its
manifest and every file) is never a hit, nor is a task its run's sealed record does not cover (see
``cache_evidence``): those are skipped with a warning, and the next candidate may answer.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select

from labledger._foundation.digests import digest_record
from labledger.materializers import Stored
from labledger.pipelines.cache_evidence import BlobCheck, RunSeals
from labledger.workspace import schema
from labledger.workspace.presence import missing_digests

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.workspace.workspace import Workspace

__all__ = [
    "CACHE_SALT",
    "CacheHit",
    "CacheReader",
    "CorruptCacheWarning",
    "OutputRef",
    "UnsealedCacheWarning",
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


class UnsealedCacheWarning(UserWarning):
    """A run's finished tasks were not reused: its sealed record does not cover what the catalog
    holds for it now."""


class CorruptCacheWarning(UserWarning):
    """A cached result was not reused: its bytes no longer hash to their digest."""


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
        _r.c.record_digest,
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
        # a run that never sealed proves nothing. That the seal covers the row is checked after
        # (``RunSeals``), once per run.
        or_(_r.c.record_digest.is_not(None), _t.c.run_id == bindparam("run_id")),
    )
    .order_by(_t.c.ended_at.desc())
)


_SQLITE_LOOKUP = (
    "SELECT t.id, t.ended_at, t.run_id, t.logged_digest, r.record_digest, o.name, o.materializer, "
    "a.id, a.digest, a.size, a.kind, a.format, a.schema_json FROM tasks AS t "
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

    A task of another run answers only if that run's sealed record covers it (``RunSeals``, judged
    once per run); with ``verify_on_read`` its output bytes are re-hashed first (``BlobCheck``).

    On SQLite it keeps one driver connection in autocommit mode: each lookup is a single indexed
    query that sees every commit made so far, without a transaction or a pool checkout around it.
    """

    def __init__(self, workspace: Workspace, run_id: str | None = None) -> None:
        self.workspace = workspace
        self.run_id = run_id or ""  # the asking run: its own finished tasks count before its seal
        self._raw: Any = None
        if workspace.catalog.dialect == "sqlite":
            self._raw = workspace.catalog.reader.raw_connection()
        self._seals = RunSeals(workspace)
        store = workspace.store
        rehash = workspace.settings.verify_on_read or getattr(store, "verify_on_read", False)
        self._blobs = BlobCheck(store) if rehash else None
        self._warned_runs: set[str] = set()
        self._warned_blobs: set[str] = set()

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
        """The newest finished task with ``key`` that its run vouches for and whose outputs are
        all still in the store (and, with ``verify_on_read``, still hash to their digests)."""
        for task_id, run_id, sealed, logged, refs in _candidates(self._rows(key), outputs, expiry):
            if not self._vouched(run_id, sealed):
                continue
            blobs = [(ref.stored.digest, ref.stored.kind == "tree") for ref in refs.values()]
            if missing_digests(self.workspace.store, blobs):
                continue
            if self._blobs is not None and self._corrupt(self._blobs, run_id, blobs):
                continue
            return CacheHit(task_id, refs, run_id, logged)
        return None

    def _vouched(self, run_id: str, record_digest: str | None) -> bool:
        """Whether ``run_id``'s seal covers its tasks; warn the first time one does not."""
        if run_id == self.run_id:
            return True  # this run's own tasks: sealed when it ends
        if self._seals.vouches(run_id, record_digest):
            return True
        if run_id not in self._warned_runs:
            self._warned_runs.add(run_id)
            warnings.warn(
                f"the results of run {run_id} are not reused from the cache: its record in the "
                "catalog does not match the record sealed in the ledger (its tasks, outputs or "
                "params were changed or added after it was sealed, or it was never sealed), so "
                "the steps it ran run again; run `labledger verify` to see what changed",
                UnsealedCacheWarning,
                stacklevel=4,
            )
        return False

    def _corrupt(self, check: BlobCheck, run_id: str, blobs: list[tuple[str, bool]]) -> bool:
        """Whether any of a candidate's ``blobs`` fails re-hashing; warn once per bad blob."""
        corrupt = check.corrupt(blobs)
        for digest in corrupt:
            if digest not in self._warned_blobs:
                self._warned_blobs.add(digest)
                warnings.warn(
                    f"the result {digest} of run {run_id} is not reused from the cache: its "
                    "bytes in the store no longer hash to it, so the step runs again; run "
                    "`labledger verify` to list every damaged blob",
                    CorruptCacheWarning,
                    stacklevel=4,
                )
        return bool(corrupt)


def _candidates(
    rows: list[tuple[Any, ...]], outputs: tuple[str, ...], expiry: float | None
) -> list[tuple[str, str, str | None, str | None, dict[str, OutputRef]]]:
    """The tasks among lookup ``rows``, newest first, that are not expired and have ``outputs``:
    ``(task_id, run_id, its run's record_digest, logged_digest, outputs)``."""
    found: dict[str, dict[str, OutputRef]] = {}
    owners: dict[str, tuple[str, str | None, str | None]] = {}
    oldest = time.time() - expiry if expiry is not None else None
    for (
        task_id,
        ended_at,
        run_id,
        logged_digest,
        record_digest,
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
            owners[task_id] = (run_id, record_digest, logged_digest)
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
    wanted = set(outputs)
    return [
        (task_id, *owners[task_id], refs) for task_id, refs in found.items() if set(refs) == wanted
    ]
