"""Capturing what a task prints and logs, per thread, so concurrent tasks keep separate logs.

While installed, ``sys.stdout``/``sys.stderr`` are routers that write to the current thread's task
buffer when it has one and to the original stream otherwise; a logging handler does the same for
log records. Installation is reference-counted, so nested and concurrent runs share one router.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["capture_task", "routing"]

_local = threading.local()
_lock = threading.Lock()
_installed = 0
_saved: tuple[TextIO, TextIO] | None = None


class _Router(io.TextIOBase):
    def __init__(self, original: TextIO) -> None:
        self.original = original

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(_local, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self.original.write(text)

    def flush(self) -> None:
        if getattr(_local, "buffer", None) is None:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer: io.StringIO | None = getattr(_local, "buffer", None)
        if buffer is not None:
            buffer.write(self.format(record) + "\n")


_handler = _Handler()
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


@contextlib.contextmanager
def routing() -> Iterator[None]:
    """Install the routers for the duration of a run (cheap when already installed)."""
    global _installed, _saved  # noqa: PLW0603 - one router per process, reference-counted
    with _lock:
        if _installed == 0:
            _saved = (sys.stdout, sys.stderr)
            sys.stdout = _Router(sys.stdout)
            sys.stderr = _Router(sys.stderr)
            logging.getLogger().addHandler(_handler)
        _installed += 1
    try:
        yield
    finally:
        with _lock:
            _installed -= 1
            if _installed == 0 and _saved is not None:
                # Put back only what we replaced: someone may have swapped the streams since.
                if isinstance(sys.stdout, _Router):
                    sys.stdout = _saved[0]
                if isinstance(sys.stderr, _Router):
                    sys.stderr = _saved[1]
                logging.getLogger().removeHandler(_handler)
                _saved = None


@contextlib.contextmanager
def capture_task() -> Iterator[io.StringIO]:
    """Collect this thread's output into a buffer (only routed while ``routing`` is active)."""
    previous = getattr(_local, "buffer", None)
    buffer = io.StringIO()
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous
