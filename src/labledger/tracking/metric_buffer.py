"""Buffered metric writing: ``log_metric`` appends to a queue; one background thread flushes.

The thread flushes every buffer at most every 100 ms in one batched transaction per run, and each run
flushes what is left when it ends, so the hot path costs a deque append.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FLUSH_INTERVAL_S", "MetricBuffer", "MetricRow"]

FLUSH_INTERVAL_S = 0.1
# (key, value or None for NaN, step, timestamp)
MetricRow = tuple[str, float | None, int, float]


class MetricBuffer:
    """A queue of metric rows for one run, drained by ``flush``.

    Args:
        write: Writes a batch of rows in one transaction; raising keeps the rows for the next try.
        heartbeat: Called by the background thread every ``heartbeat_every_s``.
    """

    def __init__(
        self,
        write: Callable[[list[MetricRow]], None],
        heartbeat: Callable[[], None] | None = None,
        heartbeat_every_s: float = 30.0,
    ) -> None:
        self.rows: deque[MetricRow] = deque()
        self._write = write
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every_s
        self._since_heartbeat = 0.0
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def flush(self) -> int:
        """Write everything queued so far; return how many rows were written."""
        with self._lock:
            count = len(self.rows)
            if not count:
                return 0
            batch = [self.rows.popleft() for _ in range(count)]
            try:
                self._write(batch)
            except BaseException:
                self.rows.extendleft(reversed(batch))
                raise
            return count

    def drain(self) -> list[MetricRow]:
        """Take every queued row (waiting for a flush in progress to finish)."""
        with self._lock:
            return [self.rows.popleft() for _ in range(len(self.rows))]

    def _tick(self, elapsed: float) -> None:
        try:
            self.flush()
            self._since_heartbeat += elapsed
            if self._heartbeat is not None and self._since_heartbeat >= self._heartbeat_every:
                self._since_heartbeat = 0.0
                self._heartbeat()
            self.error = None
        except Exception as exc:
            self.error = exc

    def start(self) -> None:
        _Flusher.instance().add(self)

    def stop(self) -> None:
        _Flusher.instance().remove(self)


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
