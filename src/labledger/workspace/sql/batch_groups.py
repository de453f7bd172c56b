"""Metric batches of concurrent writers, written together.

SQLite takes one writer at a time, and in a busy server each statement of a write can wait for
the interpreter lock behind other threads (the driver lets go of it while SQLite works). A
metric batch's own transaction is a handful of statements, each a chance to wait: under load, a
transaction of about 1 ms of work held the catalog for 5-10 ms, and the batches queued behind it.

So batches that arrive while another is being written wait for the next group, and are written
together: the thread that finds no group under way writes every batch waiting, in one
transaction of the same few statements whatever their number, then hands the batches that came
meanwhile to one of their own threads. A group in which any batch would not be written as a
plain insert on its own (a batch sent again, an ended or unknown run) is rolled back and its
batches written one by one, each as if it were alone, so every caller gets the answer (and the
error) its own batch would have had.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from labledger.stores.runs import MetricRow

__all__ = ["BatchGroups", "GroupedBatch"]

_MOST_BATCHES = 32  # a bound on one transaction's size (and on the wait of its last batch)


@dataclass(eq=False)
class GroupedBatch:
    """One caller's batch: its run and its rows, in seq order."""

    run_id: str
    rows: Sequence[MetricRow]
    written: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    leads: bool = False  # woken to write the batches waiting, not because it was written


class BatchGroups:
    """Writes batches through ``together`` (a group of two or more in one transaction: ``True``
    when written, ``False`` or an error when the group must be written batch by batch) and
    ``alone`` (one batch as if no other were in flight)."""

    def __init__(
        self,
        alone: Callable[[GroupedBatch], None],
        together: Callable[[Sequence[GroupedBatch]], bool],
    ) -> None:
        self._alone, self._together = alone, together
        self._lock = threading.Lock()
        self._waiting: list[GroupedBatch] = []
        self._writing = False

    def write(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Write ``rows`` of ``run_id``, with whatever other batches wait; raises what writing
        this batch alone would raise."""
        batch = GroupedBatch(run_id, rows)
        with self._lock:
            self._waiting.append(batch)
            leads = not self._writing
            self._writing = True
        if not leads:
            batch.written.wait()
            leads = batch.leads
        if leads:
            self._lead()
        if batch.error is not None:
            raise batch.error

    def _lead(self) -> None:
        """Write the batches waiting now, then hand over to a batch that came meanwhile."""
        with self._lock:
            group = self._waiting[:_MOST_BATCHES]
            del self._waiting[:_MOST_BATCHES]
        try:
            self._write(group)
        finally:
            with self._lock:
                if self._waiting:
                    heir = self._waiting[0]
                    heir.leads = True
                    heir.written.set()
                else:
                    self._writing = False
            for batch in group:
                batch.written.set()

    def _write(self, group: list[GroupedBatch]) -> None:
        if len(group) > 1:
            try:
                if self._together(group):
                    return
            except BaseException:  # noqa: S110 - each batch alone says what went wrong
                pass
        for batch in group:
            try:
                self._alone(batch)
            except BaseException as error:  # its own caller raises it
                batch.error = error
