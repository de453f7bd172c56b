"""A live view of a pipeline run's tasks (Rich), or nothing when progress is off.

``echo`` shows a line a step printed or logged, prefixed with the step's name: above the live view
when there is one, else on stderr (so a run's stdout stays what the caller prints there).
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["RunProgress"]

_STYLE = {"finished": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}


class RunProgress:
    """Counts tasks by status under a progress bar; prints each finished task's line."""

    def __init__(self, name: str, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.total = total
        self.counts = {"finished": 0, "cached": 0, "failed": 0, "skipped": 0}
        self._progress: Any = None
        self._task: Any = None
        self._name = name
        # Steps on a thread pool echo from their own threads.
        self._lock = threading.Lock()

    def __enter__(self) -> RunProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[summary]}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._name, total=self.total, summary="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def running(self, node: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"{self._name}: {node}")

    def done(self, node: str, status: str, seconds: float = 0.0) -> None:
        self.counts[status] += 1
        if self._progress is None:
            return
        summary = " ".join(
            f"[{_STYLE[key]}]{value} {key}[/]" for key, value in self.counts.items() if value
        )
        with self._lock:
            self._progress.update(self._task, advance=1, summary=summary, description=self._name)
            if status != "cached":
                took = f" {seconds:.2f}s" if seconds else ""
                self._progress.console.print(f"  [{_STYLE[status]}]{status:>8}[/] {node}{took}")

    def echo(self, node: str, line: str) -> None:
        """Show one line that step ``node`` printed or logged, as ``[node] line``."""
        if self._progress is None:
            with self._lock:
                sys.stderr.write(f"[{node}] {line}\n")
                sys.stderr.flush()
            return
        from rich.text import Text

        with self._lock:
            self._progress.console.print(
                Text.assemble((f"[{node}] ", "dim"), line), highlight=False, soft_wrap=True
            )
