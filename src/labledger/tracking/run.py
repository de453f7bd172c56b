"""Tracked runs: ``start_run`` and the ``ActiveRun`` it returns.

A run is opened in one write (row, params, tags, environment blob, ledger entry ``run.started``)
and sealed in another (status, remaining metrics, record digest, ledger entry ``run.finished``), each
one call to the workspace's ``RunStore``. Metrics go through a ``MetricBuffer`` whose flusher sends
them to ``RunStore.log_batch``; params and tags are written when logged. Checks and policy stay
here: values are checked as they are logged, params against those logged before.

Each metric value gets the next ``seq`` of its run as it is logged: its natural key in the catalog
(a retried batch writes nothing twice) and its place in the sealed record, whatever order the
batches commit in.
"""

from __future__ import annotations

import atexit
import itertools
import math
import operator
import os
import sys
import threading
import time
import traceback
import weakref
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ConflictError, RunStateError
from labledger._foundation.ids import new_id
from labledger.stores.runs import FinishRun, MetricRow, MetricsSeal, NewRun
from labledger.tracking.artifacts import store_artifact
from labledger.tracking.checks import (
    STEP_BITS,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    check_key,
    check_mapping,
    check_name,
    metric_items,
    metric_step,
    metric_timestamp,
    metric_value,
    param_conflict,
    storable_text,
    value_text,
)
from labledger.tracking.environment import capture_environment, git_state
from labledger.tracking.metric_buffer import MetricBuffer, batch_id
from labledger.workspace.current import get_workspace
from labledger.workspace.records import RUN_FIELDS, MetricsDigest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from labledger.stores.runs import BlobRef, ParamRow, TagRow
    from labledger.tracking.types import Artifact
    from labledger.workspace.workspace import Workspace

__all__ = ["ActiveRun", "active_run", "end_run", "reap_crashed_runs", "run_depth", "start_run"]

_TS_MIN, _TS_MAX = TIMESTAMP_MIN, TIMESTAMP_MAX
_SEQ = operator.itemgetter(4)  # a MetricRow's seq
_stack: list[ActiveRun] = []
_stack_lock = threading.Lock()
_env_digests: weakref.WeakKeyDictionary[Workspace, tuple[str, int]] = weakref.WeakKeyDictionary()
_uncaught: list[BaseException] = []


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _environment_blob(workspace: Workspace) -> BlobRef:
    # Per workspace object, not per URL: a workspace deleted and re-created at the same path in
    # this process (a notebook) has an empty store. Registered with every run, because the
    # transaction that first registered it may have rolled back.
    known = _env_digests.get(workspace)
    if known is None:
        data = canonical_json(capture_environment())
        known = (workspace.store.put(data), len(data))
        _env_digests[workspace] = known
    return known


class ActiveRun:
    """A run in progress. Use it as a context manager, or call ``end()``.

    Logging methods are also available as module functions (``labledger.log_metric``) that act on
    the innermost active run.
    """

    def __init__(self, workspace: Workspace, run_id: str, name: str) -> None:
        self.workspace = workspace
        self.id = run_id
        self.name = name
        self.status = "running"
        self._runs = workspace.stores.runs
        self._new: NewRun | None = None
        self._row: dict[str, Any] = {}
        self._params: dict[str, str] = {}
        self._param_types: dict[str, str] = {}  # type names, for the message of a conflict
        self._tags: dict[str, str] = {}
        self._steps: dict[str, int] = {}
        # The steps the catalog can hold (a server's checks them again against its own).
        dialect = None if workspace.settings.server_url else workspace.catalog.dialect
        self._step_bits = STEP_BITS.get(dialect or "", 64)
        self._step_min = -(2 ** (self._step_bits - 1))
        self._step_max = 2 ** (self._step_bits - 1) - 1
        # The next seq; ``next`` on a count is atomic, so threads logging at once get distinct ones.
        self._seq = itertools.count(1)
        # The digest of rows 1..digested, while batches commit in seq order (they do unless
        # threads race); otherwise the seal digests the rows as the catalog holds them.
        self._metrics_digest = MetricsDigest()
        self._digested = 0
        # A server seals with the digest of the rows it holds and takes none from a client: the
        # digest is kept only where the run's catalog is written from this process.
        self._digest_in_order = not workspace.settings.server_url
        self._buffer = MetricBuffer(self._write_metrics, heartbeat=self._heartbeat)
        self._buffer_started = False

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name} {self.id} {self.status}>"

    # -- params and tags ---------------------------------------------------------------------

    def _param_rows(self, params: Mapping[str, Any]) -> list[ParamRow]:
        rows: list[ParamRow] = []
        for key, value in check_mapping(params, "log_params").items():
            text = value_text(check_key(key, "param"), value, "param")
            known = self._params.get(key)
            if known is not None and known != text:
                raise ConflictError(
                    param_conflict(key, self.id, known, self._param_types.get(key), value),
                    hint="log the changed value under another key, or start a new run",
                )
            if known is None:
                rows.append((key, text, _as_number(text)))
                self._param_types[key] = type(value).__name__
        return rows

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params (immutable once logged)."""
        self._require_running()
        rows = self._param_rows(params)
        if rows:
            self._runs.log_batch(self.id, params=rows)
            self._params.update({key: text for key, text, _ in rows})

    def log_param(self, key: str, value: Any) -> None:
        """Record one param."""
        self.log_params({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set or replace tags (tags stay editable after the run ends)."""
        rows: list[TagRow] = [
            (check_key(k, "tag"), value_text(k, v, "tag"))
            for k, v in check_mapping(tags, "set_tags").items()
        ]
        if rows:
            self._runs.log_batch(self.id, tags=rows)
        self._tags.update(rows)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    # -- metrics -----------------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Record a metric value (NaN allowed; strings rejected).

        Args:
            key: Metric name.
            value: A number.
            step: Position in the series; defaults to one past the key's last step.
            timestamp: Unix seconds; defaults to now.
        """
        if self.status != "running":
            self._require_running()
        if key not in self._steps:
            check_key(key, "metric")
        if type(value) is not float:
            value = metric_value(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif type(step) is not int or not self._step_min <= step <= self._step_max:
            step = metric_step(key, step, self._step_bits)  # converts it, or refuses it
        if timestamp is not None and (
            type(timestamp) is not float or not _TS_MIN <= timestamp <= _TS_MAX
        ):
            # Checked here: a bad row would otherwise fail every flush and the run's end.
            timestamp = metric_timestamp(key, timestamp)
        self._steps[key] = step
        self._buffer.rows.append(
            (
                key,
                # -0.0 as 0.0: SQLite keeps no sign of zero, and the seal digests the rows as
                # this process sent them.
                None if math.isnan(value) else value or 0.0,
                step,
                time.time() if timestamp is None else timestamp,
                next(self._seq),
            )
        )
        if not self._buffer_started:
            self._buffer_started = True
            self._buffer.start()

    def log_metrics(
        self, metrics: Mapping[str, float] | Iterable[tuple[str, float]], step: int | None = None
    ) -> None:
        """Record several metric values, a dict or ``(key, value)`` pairs, at one step and time."""
        now = time.time()
        for key, value in metric_items(metrics):
            self.log_metric(key, value, step=step, timestamp=now)  # type: ignore[arg-type]

    def _write_metrics(self, rows: list[MetricRow]) -> None:
        # Sorted by seq (threads logging at once may queue them out of order), which names the
        # batch: sent again after a failure, it carries the same id.
        rows.sort(key=_SEQ)
        self._runs.log_batch(self.id, metrics=rows, batch_id=batch_id(self.id, rows))
        # Only once committed: a failed flush keeps its batch and sends it again.
        self._digest(self._metrics_digest, rows)

    def _digest(self, digest: MetricsDigest, rows: list[MetricRow]) -> None:
        """Add committed ``rows`` (sorted by seq) to ``digest`` when they follow the rows in it."""
        if not self._digest_in_order or not rows:
            return
        if rows[0][4] == self._digested + 1 and rows[-1][4] == self._digested + len(rows):
            digest.update(rows)
            self._digested = rows[-1][4]
        else:
            self._digest_in_order = False

    def _heartbeat(self) -> None:
        self._runs.heartbeat([self.id], time.time())

    def flush(self) -> None:
        """Write buffered metrics now."""
        if self._buffer.error is not None:
            error, self._buffer.error = self._buffer.error, None
            raise error
        self._buffer.flush()

    # -- artifacts ---------------------------------------------------------------------------

    def log_artifact(self, value: Any, name: str | None = None) -> Artifact:
        """Store a file, folder, DataFrame, array, figure, bytes or JSON-able value as an artifact.

        A ``str`` or ``os.PathLike`` is read as a path. Returns the recorded ``Artifact``.
        """
        self._require_running()
        # Filed in the run's project: who may see the run may see what it made.
        project_id = self._new.project_id if self._new is not None else None
        return store_artifact(
            self.workspace, value, name=name, run_id=self.id, project_id=project_id
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def _require_running(self) -> None:
        if self.status != "running":
            raise RunStateError(
                f"run {self.id} is {self.status}; nothing more can be logged to it",
                hint="start a new run with labledger.start_run()",
            )

    def end(self, status: str = "finished", error: str | None = None) -> None:
        """Flush metrics, seal the run's record in the ledger and mark it ``status``."""
        if self.status != "running":
            return
        self._buffer.stop()
        self.status = status
        if error is not None:
            error = storable_text(error)
        rows = self._buffer.drain()
        try:
            self._seal(status, error, rows)
        except BaseException:
            # Nothing was sealed: keep the run open with its unwritten metrics, so end() can retry.
            self._buffer.rows.extendleft(reversed(rows))
            self.status = "running"
            self._buffer.start()
            raise
        with _stack_lock:
            if self in _stack:
                _stack.remove(self)

    def _seal(self, status: str, error: str | None, rows: list[MetricRow]) -> None:
        rows.sort(key=_SEQ)
        metrics = self._metrics_digest.copy()
        digested, in_order = self._digested, self._digest_in_order
        self._digest(metrics, rows)
        # Batches committed out of seq order: the store digests the rows in seq order as stored.
        seal = (
            MetricsSeal(metrics.count, metrics.digest, metrics.summary())
            if self._digest_in_order
            else None
        )
        self._digested, self._digest_in_order = digested, in_order
        self._runs.finish_run(
            self.id,
            FinishRun(
                status=status,
                ended_at=time.time(),
                error=error,
                metrics=rows,
                metrics_seal=seal,
                run=self._new,
                params=self._params,
                tags=self._tags,
            ),
        )

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end("finished")
        elif isinstance(exc, KeyboardInterrupt):
            self.end("killed", "interrupted")
        else:
            self.end("failed", "".join(traceback.format_exception(kind, exc, tb))[-4000:])


def start_run(
    name: str | None = None,
    *,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    project: str = "default",
    kind: str = "run",
    workspace: Workspace | None = None,
) -> ActiveRun:
    """Open a tracked run; use it as ``with labledger.start_run(...) as run:``.

    Args:
        name: A readable name; defaults to ``run-<time>``.
        params: Params recorded at once.
        tags: Tags set at once.
        project: Project the run belongs to.
        kind: ``run`` for scripts and notebooks; pipelines and ingests set their own.
        workspace: Defaults to the current workspace.
    """
    ws = workspace or get_workspace()
    run_id = new_id()
    now = time.time()
    if name is not None and name != "":
        check_name(name, "run")
    check_name(project, "project", 200)
    check_name(kind, "run kind", 20)
    run = ActiveRun(ws, run_id, name or time.strftime("run-%Y%m%d-%H%M%S", time.localtime(now)))
    param_rows = run._param_rows(check_mapping(params or {}, "start_run(params=...)"))
    tag_rows: list[TagRow] = [
        (check_key(k, "tag"), value_text(k, v, "tag"))
        for k, v in check_mapping(tags or {}, "start_run(tags=...)").items()
    ]
    git = git_state()
    # The project first: on a server, one the user is no member of is the error to see.
    project_id = ws.project_id(project)
    # A writer seals runs whose process died (readers only report them); rate-limited per
    # workspace object, so a loop of short runs pays for it once.
    ws.reap_dead_runs(force=False)
    environment = _environment_blob(ws)
    new = NewRun(
        id=run_id,
        project_id=project_id,
        name=run.name,
        kind=kind,
        user=ws.actor,
        host=ws.host,
        pid=os.getpid(),
        started_at=now,
        environment_digest=environment[0],
        git_commit=git.commit,
        git_dirty=git.dirty,
    )
    run._runs.create_run(new, params=param_rows, tags=tag_rows, blobs=[environment])
    run._new = new
    run._row = {key: getattr(new, key, None) for key in (*RUN_FIELDS, "kind") if key != "status"}
    run._row["status"] = "running"
    run._tags.update(tag_rows)
    run._params.update({key: text for key, text, _ in param_rows})
    with _stack_lock:
        _stack.append(run)
        _install_exit_hooks()
    # The background thread beats the run's heart from now on, whether or not it logs metrics:
    # a run that is quiet for a while is not mistaken for a dead one by other processes.
    run._buffer_started = True
    run._buffer.start()
    return run


def active_run() -> ActiveRun:
    """The innermost active run; raises ``RunStateError`` when there is none."""
    with _stack_lock:
        if _stack:
            return _stack[-1]
    raise RunStateError(
        "no active run",
        hint="wrap the code in `with labledger.start_run():` or call start_run() first",
    )


def run_depth() -> int:
    """How many runs are active in this process (nested runs count one each)."""
    with _stack_lock:
        return len(_stack)


def end_run(status: str = "finished") -> None:
    """End the innermost active run."""
    active_run().end(status)


def reap_crashed_runs(*, workspace: Workspace | None = None) -> list[str]:
    """Seal as ``crashed`` every ``running`` run that lost its lease; return their ids.

    A run loses its lease when its process on this host is gone, or when it has sent no heartbeat
    for ``HEARTBEAT_TIMEOUT_S`` from another host. Each is sealed as it stands (a ``run.crashed``
    ledger entry with its record digest), so a re-run resumes from the tasks it finished.
    ``start_run`` and pipeline runs do this too; call it from a cron job or a server to keep run
    lists current.

    Args:
        workspace: Defaults to the current workspace.
    """
    return (workspace or get_workspace()).reap_dead_runs()


_hooks_installed = False


def _install_exit_hooks() -> None:
    global _hooks_installed  # noqa: PLW0603 - installed once per process
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def _excepthook(
        kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        _uncaught.append(exc)
        previous(kind, exc, tb)

    sys.excepthook = _excepthook
    atexit.register(_end_all_at_exit)


def _end_all_at_exit() -> None:
    status = "failed" if _uncaught else "finished"
    error = repr(_uncaught[-1]) if _uncaught else None
    while True:
        with _stack_lock:
            if not _stack:
                return
            run = _stack[-1]
        try:
            run.end(status, error)
        except Exception:
            with _stack_lock:
                if run in _stack:
                    _stack.remove(run)
