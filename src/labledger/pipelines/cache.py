"""Cache keys and cache lookups.

A task's cache key is ``blake3(canonical_json({fingerprint, inputs, params, environment, seed,
outputs, salt}))``, with ``params`` the canonical JSON text of the step's literal arguments and
``inputs`` the digests of the step outputs and the files it reads: it changes exactly when the
step's code, an input's bytes, a literal argument, the packages the step uses or the seed change.
A lookup is one indexed query; a result whose bytes are not all in the store (for a folder: its
manifest and every file) is never a hit, nor is a task its run's sealed record does not cover (see
``cache_evidence``): those are skipped with a warning, and the next candidate may answer.

Against a server each lookup is a round trip, and the keys of a chain are known one step at a
time. So a run there first fetches, in one request, every cache entry recorded for its steps
(``CacheReader.prime``: ``TaskStore.cache_index``, by step fingerprint, which does not depend on
inputs) with the presence of their output blobs, and then judges each key from that index as it
learns it; only the keys of steps with too many entries are looked up one frontier at a time.
Entries recorded by other runs after the index was fetched are not seen by this run.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger._foundation.digests import digest_record
from labledger.materializers import Stored
from labledger.pipelines.cache_evidence import BlobCheck, RunSeals
from labledger.workspace.blobstore import exists_many
from labledger.workspace.presence import missing_digests

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.stores.tasks import CachedTask
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


class CacheReader:
    """Answers cache lookups for one run: only tasks of sealed runs, or of ``run_id`` itself.

    A task of another run answers only if that run's sealed record covers it (``RunSeals``, judged
    once per run); with ``verify_on_read`` its output bytes are re-hashed first (``BlobCheck``).
    The store is asked once per batch of keys (``find``: a ready frontier of the scheduler).
    """

    def __init__(self, workspace: Workspace, run_id: str | None = None) -> None:
        self.workspace = workspace
        self.run_id = run_id or ""  # the asking run: its own finished tasks count before its seal
        self._tasks = workspace.stores.tasks
        self._seals = RunSeals(workspace)
        store = workspace.store
        rehash = workspace.settings.verify_on_read or getattr(store, "verify_on_read", False)
        self._blobs = BlobCheck(store) if rehash else None
        self._warned_runs: set[str] = set()
        self._warned_blobs: set[str] = set()
        self._index: dict[str, list[CachedTask]] = {}
        self._indexed: set[str] = set()  # fingerprints whose every entry is in the index
        self._present: dict[str, bool] = {}  # blobs of the index's outputs, when it was fetched

    def prime(self, fingerprints: Iterable[str]) -> None:
        """Fetch every cache entry of steps with these fingerprints, and whether their output
        blobs are stored, in one request each: ``find`` then judges their keys from memory."""
        wanted = [fp for fp in dict.fromkeys(fingerprints) if fp not in self._indexed]
        if not wanted:
            return
        index = self._tasks.cache_index(wanted, run_id=self.run_id)
        self._index.update(index.found)
        self._indexed.update(set(wanted) - set(index.truncated))
        outputs = {
            out.digest
            for tasks in index.found.values()
            for task in tasks
            for out in task.outputs.values()
            if out.kind != "tree"  # a tree's entries are judged when it is a candidate
        }
        self._present.update(exists_many(self.workspace.store, outputs))

    def close(self) -> None:
        """Nothing to release; kept so a reader can be used as a context manager."""

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def recorded(self, key: str) -> bool:
        """Whether a finished task with ``key`` is recorded, usable or not."""
        return bool(self._tasks.find_cached([key], run_id=self.run_id))

    def lookup(
        self, key: str, *, outputs: tuple[str, ...], expiry: float | None = None
    ) -> CacheHit | None:
        """The newest finished task with ``key`` that its run vouches for and whose outputs are
        all still in the store (and, with ``verify_on_read``, still hash to their digests)."""
        return self.find({key: (outputs, expiry)}).get(key)

    def find(
        self,
        wanted: Mapping[str, tuple[tuple[str, ...], float | None]],
        *,
        fingerprints: Mapping[str, str] | None = None,
    ) -> dict[str, CacheHit]:
        """``lookup`` for many keys at once: key -> ``(outputs, expiry)`` in, key -> hit out (keys
        without a usable hit are absent).

        One store call finds every key's candidates; the blob store is then asked about the
        outputs of every key's next candidate in one batch, so a ready frontier costs one lookup
        and (unless a candidate's bytes are gone) one presence check. A key whose step
        (``fingerprints``: key -> step fingerprint) was ``prime``d is answered from the index,
        with the presence known then: no request at all.
        """
        if not wanted:
            return {}
        indexed = self._indexed
        asked = [
            key
            for key in wanted
            if not indexed or fingerprints is None or fingerprints.get(key) not in indexed
        ]
        found = self._tasks.find_cached(asked, run_id=self.run_id) if asked else {}
        if len(asked) < len(wanted):
            entries = self._index
            found.update((k, entries[k]) for k in wanted if k not in found and k in entries)
        now = time.time() if any(expiry is not None for _, expiry in wanted.values()) else 0.0
        at = dict.fromkeys(found, 0)  # key -> index of its next candidate to judge
        hits: dict[str, CacheHit] = {}
        while at:
            heads: list[tuple[str, int]] = []
            for key, start in at.items():
                outputs, expiry = wanted[key]
                index = self._next_trusted(
                    found[key], start, outputs, None if expiry is None else now - expiry
                )
                if index is not None:
                    heads.append((key, index))
            missing = missing_digests(
                self.workspace.store,
                [
                    (out.digest, out.kind == "tree")
                    for key, index in heads
                    for out in found[key][index].outputs.values()
                ],
                known=self._present,
            )
            at = {}
            for key, index in heads:
                task = found[key][index]
                if (missing or self._blobs is not None) and not self._intact(task, missing):
                    at[key] = index + 1  # its next candidate may answer
                else:
                    hits[key] = _hit(task)
        return hits

    def _next_trusted(
        self, tasks: list[CachedTask], start: int, outputs: tuple[str, ...], oldest: float | None
    ) -> int | None:
        """The index of the first candidate from ``start`` on that is fresh enough, has
        ``outputs``, and whose run vouches for it."""
        for index in range(start, len(tasks)):
            task = tasks[index]
            if oldest is not None and (task.ended_at or 0) < oldest:
                continue
            if len(task.outputs) != len(outputs) or not all(o in task.outputs for o in outputs):
                continue
            if self._vouched(task.run_id, task.record_digest):
                return index
        return None

    def _intact(self, task: CachedTask, missing: set[str]) -> bool:
        """Whether all of ``task``'s output bytes are stored (and re-hash, when asked)."""
        blobs = [(out.digest, out.kind == "tree") for out in task.outputs.values()]
        if any(digest in missing for digest, _ in blobs):
            return False
        return self._blobs is None or not self._corrupt(self._blobs, task.run_id, blobs)

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


def _hit(task: CachedTask) -> CacheHit:
    refs = {
        name: OutputRef(
            out.artifact_id,
            Stored(
                digest=out.digest,
                size=out.size,
                kind=out.kind,
                format=out.format,
                materializer=out.materializer,
                schema=out.schema,
                stats={},
                blobs=(),
            ),
        )
        for name, out in task.outputs.items()
    }
    return CacheHit(task.task_id, refs, task.run_id, task.logged_digest)
