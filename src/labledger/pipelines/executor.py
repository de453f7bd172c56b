"""Executors: where tasks run. A Protocol with a few verbs, and the default ``LocalExecutor``.

An executor receives ``TaskSpec`` objects and gives back ``TaskResult`` objects; it never touches
the catalog. ``shares_memory`` says whether it runs tasks in this process, in which case the runner
hands outputs to downstream tasks as Python objects instead of reloading them from the store.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from labledger._foundation.errors import ValidationError
from labledger.pipelines.task import TaskResult, execute_task
from labledger.workspace.buffered_store import BufferedBlobStore, buffers_writes
from labledger.workspace.filesystem_sync import sync_folder
from labledger.workspace.local_store import LocalBlobStore

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from labledger.pipelines.task import TaskSpec
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["Executor", "LocalExecutor", "scratch_dir"]


@runtime_checkable
class Executor(Protocol):
    """Runs tasks. ``submit`` returns a handle; ``wait`` blocks until at least one is done."""

    name: str
    shares_memory: bool

    def open(self, workspace: Workspace) -> None:
        """Prepare to run tasks that read and write ``workspace``'s blob store."""

    def submit(self, spec: TaskSpec, values: Mapping[str, Any]) -> Any:
        """Start a task; ``values`` are in-memory inputs (only used when ``shares_memory``)."""

    def wait(self, pending: Collection[Any]) -> list[tuple[Any, TaskResult]]:
        """Block until at least one of ``pending`` is done; return the done ones and results."""

    def make_durable(self) -> None:
        """Make every output written so far durable and present in the workspace's store
        (outputs held back for a batch are sent); called before their records are committed."""

    def close(self) -> None:
        """Release workers; called when the run ends."""


class _Done:
    __slots__ = ("result",)

    def __init__(self, result: TaskResult) -> None:
        self.result = result


class LocalExecutor:
    """Runs tasks in this process: one at a time, or on a pool of ``max_workers`` threads.

    Threads suit steps that spend their time in NumPy, pandas, scikit-learn or I/O, which release
    the GIL. For separate processes or several machines use ``DaskExecutor``.

    Args:
        max_workers: ``None`` or 1 runs tasks one by one in the calling thread; more uses a pool.
    """

    name = "local"
    shares_memory = True

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValidationError(f"max_workers={max_workers!r} must be a whole number >= 1")
        self.max_workers = max_workers
        self._pool: cf.ThreadPoolExecutor | None = None
        self._scratch: Path | None = None
        self._store: BlobStore | None = None
        self._sync_root: Path | None = None
        self._buffer: BufferedBlobStore | None = None

    def __repr__(self) -> str:
        return f"LocalExecutor(max_workers={self.max_workers})"

    def open(self, workspace: Workspace) -> None:
        self._scratch = scratch_dir(workspace)
        self._store = workspace.store
        self._sync_root = None
        self._buffer = None
        store = workspace.store
        if buffers_writes(store):
            # A server's store: outputs wait in memory and go in one batched upload right
            # before the rows that reference them (make_durable), not a round trip each.
            self._store = self._buffer = BufferedBlobStore(store)
        elif isinstance(store, LocalBlobStore) and store.fsync:
            # One filesystem sync per batch of records instead of an fsync per output: the
            # runner calls make_durable() before it commits rows that reference the blobs.
            self._store = LocalBlobStore(
                store.root, verify_on_read=store.verify_on_read, fsync=False, link=store.link
            )
            self._sync_root = store.root
        if self.max_workers and self.max_workers > 1 and self._pool is None:
            self._pool = cf.ThreadPoolExecutor(self.max_workers, thread_name_prefix="labledger")

    def _run(self, spec: TaskSpec, values: Mapping[str, Any]) -> TaskResult:
        assert self._store is not None, "open() first"
        return execute_task(
            spec,
            self._store,
            values=values,
            keep_values=True,
            workdir=self._scratch,
        )

    def submit(self, spec: TaskSpec, values: Mapping[str, Any]) -> Any:
        if self._pool is None:
            return _Done(self._run(spec, values))
        # The task sees this thread's context (where its printed lines are echoed, say).
        return self._pool.submit(contextvars.copy_context().run, self._run, spec, values)

    def wait(self, pending: Collection[Any]) -> list[tuple[Any, TaskResult]]:
        done = [(h, h.result) for h in pending if isinstance(h, _Done)]
        if done:
            return done
        finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        return [(future, future.result()) for future in finished]

    def make_durable(self) -> None:
        if self._buffer is not None:
            self._buffer.flush()
        if self._sync_root is not None:
            sync_folder(self._sync_root)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def scratch_dir(workspace: Workspace) -> Path:
    """Where file and folder inputs are written for steps to read: inside an embedded workspace."""
    root = workspace.settings.root
    base = root / "scratch" if root is not None else Path(tempfile.gettempdir()) / "labledger"
    base.mkdir(parents=True, exist_ok=True)
    return base
