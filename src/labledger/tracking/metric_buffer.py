"""Buffered metric writing: ``log_metric`` appends to a queue; one background thread flushes.

The thread flushes every buffer at most every 100 ms, one ``RunStore.log_batch`` per run, and each run
flushes what is left when it ends, so the hot path costs a deque append.

Each row carries its ``seq``, its place in the run, given by the run as values are logged. A batch is
named by its run and the seqs it holds (``batch_id``). A write that fails keeps its batch, and the
next flush sends that same batch, under the same id, before anything logged since: a write whose
commit succeeded but whose reply was lost is sent again unchanged, and the catalog, which keeps one
row per ``(run, seq)``, writes nothing twice.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING

from labledger.stores.runs import MetricRow

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FLUSH_INTERVAL_S", "MetricBuffer", "MetricRow", "batch_id"]

FLUSH_INTERVAL_S = 0.1


def batch_id(run_id: str, rows: list[MetricRow]) -> str:
    """The name of a batch of ``run_id``'s rows: the run and the first and last seq it holds."""
    return f"{run_id}:{rows[0][4]}-{rows[-1][4]}"


class MetricBuffer:
    """A queue of metric rows for one run, drained by ``flush``.

    Args:
        write: Writes a batch of rows in one transaction; raising keeps the batch, which the next
            flush sends again unchanged (the write must be idempotent: the commit may have
            succeeded).
        heartbeat: Called by the background thread every ``heartbeat_every_s``.
    """

    def __init__(
        self,
        write: Callable[[list[MetricRow]], None],
        heartbeat: Callable[[], None] | None = None,
        heartbeat_every_s: float = 30.0,
    ) -> None:
        self.rows: deque[MetricRow] = deque()
        # The batch whose write raised: sent again, as it was, before anything newer.
        self._unacked: list[MetricRow] | None = None
        self._write = write
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every_s
        self._since_heartbeat = 0.0
        self._lock = threading.Lock()
        # Set by ``stop``: the background thread, which may already hold this buffer, leaves it alone.
        self._stopped = True
        self.error: BaseException | None = None

    def flush(self) -> int:
        """Write everything queued so far; return how many rows were written."""
        with self._lock:
            return self._flush_locked()

    def _flush_locked(self) -> int:
        written = 0
        if self._unacked is not None:
            self._send(self._unacked)
            written = len(self._unacked)
            self._unacked = None
        count = len(self.rows)
        if count:
            self._send([self.rows.popleft() for _ in range(count)])
        return written + count

    def _send(self, batch: list[MetricRow]) -> None:
        try:
            self._write(batch)
        except BaseException:
            self._unacked = batch
            raise

    def drain(self) -> list[MetricRow]:
        """Take every queued row, a batch left unacknowledged first (waiting for a flush in
        progress to finish)."""
        with self._lock:
            rows = self._unacked or []
            self._unacked = None
            rows.extend(self.rows.popleft() for _ in range(len(self.rows)))
            return rows

    def _tick(self, elapsed: float) -> None:
        try:
            with self._lock:
                if self._stopped:
                    return
                self._flush_locked()
            self._since_heartbeat += elapsed
            if self._heartbeat is not None and self._since_heartbeat >= self._heartbeat_every:
                self._since_heartbeat = 0.0
                self._heartbeat()
            self.error = None
        except Exception as exc:
            self.error = exc

    def start(self) -> None:
        with self._lock:
            self._stopped = False
        _Flusher.instance().add(self)

    def stop(self) -> None:
        """Take this buffer from the background thread; a flush it is making finishes first."""
        _Flusher.instance().remove(self)
        with self._lock:
            self._stopped = True


class _Flusher:
    """The one background thread that drains every live buffer of the process."""

    _singleton: _Flusher | None = None
    _singleton_lock = threading.Lock()

    def __init__(self) -> None:
        self._buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def instance(cls) -> _Flusher:
        with cls._singleton_lock:
            if cls._singleton is None:
                cls._singleton = cls()
            return cls._singleton

    def add(self, buffer: MetricBuffer) -> None:
        with self._lock:
            self._buffers.add(buffer)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="labledger-metrics", daemon=True
                )
                self._thread.start()

    def remove(self, buffer: MetricBuffer) -> None:
        with self._lock:
            self._buffers.discard(buffer)

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            with self._lock:
                buffers = list(self._buffers)
            for buffer in buffers:
                with contextlib.suppress(Exception):
                    buffer._tick(FLUSH_INTERVAL_S)
