"""Capturing what a task prints and logs, per thread, so concurrent tasks keep separate logs.

While installed, ``sys.stdout``/``sys.stderr`` are routers that write to the current thread's task
buffer when it has one and to the original stream otherwise; a logging handler does the same for
log records. Installation is reference-counted, so nested and concurrent runs share one router.

Inside ``echoing(sink)``, tasks captured from then on also hand each complete line to
``sink(node, line)`` as it is written (a context variable, so thread pools that copy the context
see it and concurrent runs keep their own). Lines are whole and belong to one task, because each
thread writes to its own buffer.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["capture_task", "echoing", "routing"]

_local = threading.local()
_lock = threading.Lock()
_installed = 0
_saved: tuple[TextIO, TextIO] | None = None
_echo: contextvars.ContextVar[Callable[[str, str], None] | None] = contextvars.ContextVar(
    "labledger_echo", default=None
)


class _TaskLog(io.StringIO):
    """A task's captured text; with a sink, each complete line also goes to it as it comes."""

    def __init__(self, node: str, sink: Callable[[str, str], None] | None) -> None:
        super().__init__()
        self._node = node
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:
        written = super().write(text)
        if self._sink is not None:
            self._echo(text)
        return written

    def write_record(self, stored: str, shown: str) -> None:
        """Store a log record in full; echo its shorter form (no timestamp)."""
        super().write(stored)
        if self._sink is not None:
            self._echo(shown)

    def _echo(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._emit(line)

    def finish(self) -> None:
        """Echo a last line that did not end with a newline."""
        if self._partial:
            line, self._partial = self._partial, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        assert self._sink is not None
        previous = getattr(_local, "buffer", None)
        # What the sink writes goes to the real streams, not back into this buffer.
        _local.buffer = None
        try:
            with contextlib.suppress(OSError, ValueError):  # a closed or broken terminal
                self._sink(self._node, line.rstrip("\r"))
        finally:
            _local.buffer = previous


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

    # io.TextIOBase answers these itself (None, False, an error): ask the real stream instead.
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.original.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.original.errors

    def fileno(self) -> int:
        return self.original.fileno()

    def isatty(self) -> bool:
        return self.original.isatty()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _Handler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.short = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        buffer: io.StringIO | None = getattr(_local, "buffer", None)
        if isinstance(buffer, _TaskLog):
            buffer.write_record(self.format(record) + "\n", self.short.format(record) + "\n")
        elif buffer is not None:
            buffer.write(self.format(record) + "\n")


_handler = _Handler()


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
def echoing(sink: Callable[[str, str], None] | None) -> Iterator[None]:
    """Hand each line that tasks captured in this context write to ``sink(node, line)``.

    ``None`` echoes nothing. The sink runs in the task's thread, with capture off, so whatever it
    writes reaches the real streams.
    """
    token = _echo.set(sink)
    try:
        yield
    finally:
        _echo.reset(token)


@contextlib.contextmanager
def capture_task(node: str = "") -> Iterator[io.StringIO]:
    """Collect this thread's output into a buffer (only routed while ``routing`` is active).

    Args:
        node: The task's name, passed to the echo sink with each line.
    """
    previous = getattr(_local, "buffer", None)
    buffer = _TaskLog(node, _echo.get())
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous
        buffer.finish()
