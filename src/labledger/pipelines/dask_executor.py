"""``DaskExecutor``: tasks on a Dask cluster (a LocalCluster, or an existing scheduler).

Workers open the same blob store as the client (a shared folder, S3, or a server's) and exchange
digests only: a task's inputs are read from the store on the worker, its outputs are written there
(through a server, a task's small outputs and log go up in one batch), and the result sent back is
a small ``TaskResult``. Step resources map to Dask worker resources
(``CPU``, ``MEMORY``, ``GPU``); a LocalCluster started here declares what its workers have.

A task carries its ``TaskSpec`` and a ``StoreSpec`` (the store's URL, S3 endpoint, link mode and
verify flag), never the workspace's ``Settings``: workers never see the catalog's URL or password,
and find their own store credentials. The client alone records runs in the catalog.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import ConfigurationError, ValidationError
from labledger._foundation.extras import install_hint
from labledger.pipelines.task import TaskResult
from labledger.workspace.store_spec import StoreSpec

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from labledger.pipelines.task import TaskSpec
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["DaskExecutor"]

_stores: dict[StoreSpec, BlobStore] = {}


def _store_on_worker(where: StoreSpec) -> BlobStore:
    store = _stores.get(where)
    if store is None:
        store = _stores[where] = where.open()
    return store


def _without_token(where: StoreSpec) -> str | None:
    """On a worker: its host name when it holds no token for the server ``where`` names."""
    import socket

    from labledger.workspace.http.credentials import token_for

    return None if token_for(where.url) else socket.gethostname()


def _run_on_worker(spec: TaskSpec, where: StoreSpec) -> TaskResult:
    import tempfile

    from labledger.pipelines.capture import routing
    from labledger.pipelines.task import execute_task
    from labledger.workspace.buffered_store import BufferedBlobStore, buffers_writes

    workdir = Path(tempfile.gettempdir()) / "labledger-worker"
    workdir.mkdir(parents=True, exist_ok=True)
    store = _store_on_worker(where)
    if not buffers_writes(store):
        with routing():
            return execute_task(spec, store, defer_logging=True, workdir=workdir)
    # Against a server each put is a round trip: the task's small outputs and its log go up
    # together, before the result travels (the client records rows that name them).
    held = BufferedBlobStore(store)
    with routing():
        result = execute_task(spec, held, defer_logging=True, workdir=workdir)
    held.flush()
    return result


def _project_modules(files: frozenset[str]) -> list[Any]:
    names = {Path(f).name for f in files}
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        # Cheap checks first: resolving every imported module's path costs milliseconds.
        if file and Path(file).name in names and str(Path(file).resolve()) in files:
            found.append(module)
    return found


class DaskExecutor:
    """Runs tasks on Dask.

    Args:
        address: A scheduler address (``tcp://host:8786``), a ``distributed.Client``, or ``None``
            to start a LocalCluster for the run.
        n_workers: Workers of the LocalCluster (default: one per core).
        threads_per_worker: Threads per LocalCluster worker.
        processes: LocalCluster workers as processes (default) or threads.
    """

    name = "dask"
    shares_memory = False

    def __init__(
        self,
        address: str | Any | None = None,
        *,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        processes: bool = True,
    ) -> None:
        if importlib.util.find_spec("distributed") is None:
            # Said before a run is made: a pipeline that cannot start leaves no failed run.
            raise ConfigurationError("Dask is not installed", hint=install_hint("dask"))
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.processes = processes
        self.client: Any = None
        self._cluster: Any = None
        self._owns_client = False
        self._store: StoreSpec | None = None  # all a worker is told about the workspace
        self._nodes: dict[Any, str] = {}
        self._resources: list[dict[str, float]] = []
        self._by_value: set[str] = set()
        self._registered: set[frozenset[str]] = set()
        self._completed: Any = None  # a distributed.as_completed fed by submit

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address or 'LocalCluster'})"

    def open(self, workspace: Workspace) -> None:
        try:
            # Untyped library: reached through Any.
            distributed: Any = importlib.import_module("distributed")
        except ModuleNotFoundError as exc:
            raise ConfigurationError("Dask is not installed", hint=install_hint("dask")) from exc
        if workspace.store.__class__.__name__ == "MemoryBlobStore":
            raise ConfigurationError(
                "Dask workers cannot reach an in-memory blob store",
                hint="use a folder or S3 store the workers can read",
            )
        self._store = StoreSpec.of(workspace.settings)
        if self.client is not None:
            return
        if self.address is None:
            n_workers = self.n_workers or os.cpu_count() or 1
            memory = (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // n_workers
            self._cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=self.processes,
                # Loopback only: the dashboard has no authentication.
                dashboard_address="127.0.0.1:0",
                resources={"CPU": float(self.threads_per_worker), "MEMORY": float(memory)},
                silence_logs=40,
            )
            self.client = distributed.Client(self._cluster)
            self._owns_client = True
        elif isinstance(self.address, str):
            self.client = distributed.Client(self.address)
            self._owns_client = True
        else:
            self.client = self.address
        workers = self.client.scheduler_info()["workers"].values()
        self._resources = [dict(w.get("resources") or {}) for w in workers]
        client = getattr(workspace, "client", None)
        if self._store.server and getattr(client, "signed_in", False):
            # This process signs in, so the server wants tokens: each worker needs its own.
            self._check_tokens(self._store)
        # Results are fetched on the client's event loop as tasks finish, and handed over in
        # batches: a round trip per result from this thread would cost milliseconds each.
        self._completed = distributed.as_completed(
            loop=self.client.loop, with_results=True, raise_errors=False
        )

    def _check_tokens(self, where: StoreSpec) -> None:
        """Refuse, before any task is sent, workers that hold no token for the server: each
        task of theirs would fail, with a traceback in the worker's log."""
        missing = {
            address: host
            for address, host in self.client.run(_without_token, where).items()
            if host is not None
        }
        if missing:
            named = ", ".join(f"{address} ({host})" for address, host in sorted(missing.items()))
            raise ConfigurationError(
                f"{len(missing)} Dask worker(s) hold no token for {where.url}: {named}",
                hint="start the workers with LABLEDGER_TOKEN set to an API token "
                "(`labledger tokens create`), or run `labledger login "
                f"{where.url}` on their machines",
            )

    def _wanted(self, spec: TaskSpec) -> dict[str, float] | None:
        if not any(self._resources):
            # Workers that declare no resources cannot be scheduled by them: ignore the request.
            return None
        wanted = spec.step.resources.as_dict()
        wanted = {k: v for k, v in wanted.items() if any(k in r for r in self._resources)} | {
            k: v for k, v in wanted.items() if k == "GPU"
        }
        if not any(all(r.get(k, 0) >= v for k, v in wanted.items()) for r in self._resources):
            raise ValidationError(
                f"no Dask worker has the resources step {spec.node!r} needs ({wanted})",
                hint="start workers with --resources, or lower the step's Resources",
            )
        return wanted

    def submit(self, spec: TaskSpec, values: Mapping[str, Any]) -> Any:
        assert self.client is not None and self._store is not None, "open() first"
        cloudpickle: Any = importlib.import_module("cloudpickle")

        # Project modules travel by value: workers need not have the project on their path.
        files = spec.step.fingerprint.sources
        if files not in self._registered:
            self._registered.add(files)
            for module in _project_modules(files):
                if module.__name__ not in self._by_value:
                    cloudpickle.register_pickle_by_value(module)
                    self._by_value.add(module.__name__)
        future = self.client.submit(
            _run_on_worker,
            spec,
            self._store,
            key=f"{spec.node}-{spec.task_id}",
            resources=self._wanted(spec),
            pure=False,
        )
        self._nodes[future] = spec.node
        self._completed.add(future)
        return future

    def wait(self, pending: Collection[Any]) -> list[tuple[Any, TaskResult]]:
        assert self._completed is not None, "open() first"
        results: list[tuple[Any, TaskResult]] = []
        for future, outcome in self._completed.next_batch(block=True):
            node = self._nodes.pop(future, "?")
            if isinstance(outcome, TaskResult):
                results.append((future, outcome))
                continue
            # The worker died, the task was cancelled, or its result could not travel back:
            # an error comes as (type, exception, traceback), a cancellation as the exception.
            exc = outcome[1] if isinstance(outcome, tuple) else outcome
            results.append(
                (
                    future,
                    TaskResult(
                        node=node,
                        error=f"step {node!r} was lost on Dask: {type(exc).__name__}: {exc}",
                        traceback=f"{type(exc).__name__}: {exc}",
                    ),
                )
            )
        return results

    def make_durable(self) -> None:
        """Nothing to do: workers flush each output as they write it."""

    def close(self) -> None:
        self._completed = None
        if self._owns_client and self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
