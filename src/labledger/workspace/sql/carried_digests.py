"""Digests of runs' metric rows, kept as their batches are written, for the runs' seals.

A server seals runs whose writers send no digest of their own, so the seal digests the rows the
catalog holds; reading a run's rows back cost more than writing them (2,000 rows: 1.3 ms through
SQLite's driver, more through PostgreSQL's). So when a batch of new rows has committed, its rows are
added to a digest of its run kept in memory, if they follow the rows digested so far (seqs 1, 2,
3, ... with no gap). The seal passes it to ``metrics_digest`` as the ``known`` digest, which counts
on it only while the catalog holds exactly as many rows up to its last seq, and reads the rows
after it.

Rows are added only as the catalog gives them back: a NaN as ``None``, every other value a plain
float. A batch holding a float NaN or a negative zero (which SQLite stores without its sign) ends
its run's carried rows where they are, and its seal reads the rest.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from labledger.workspace.records import MetricsDigest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.stores.runs import MetricRow

__all__ = ["CarriedDigests"]

_MOST_RUNS = 1024  # runs carried at once; a run that never seals is dropped, oldest first


class CarriedDigests:
    """The digests of the runs whose batches were written through this process."""

    def __init__(self, most: int = _MOST_RUNS) -> None:
        self._most = most
        self._digests: OrderedDict[str, MetricsDigest] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Add ``rows``, newly committed and sorted by seq, to ``run_id``'s digest if they
        follow it (or begin the run, at seq 1)."""
        if not rows or rows[-1][4] - rows[0][4] != len(rows) - 1 or not _as_stored(rows):
            return
        with self._lock:
            digest = self._digests.pop(run_id, None)
        if digest is None:
            if rows[0][4] != 1:
                return
            digest = MetricsDigest()
        elif digest.last_seq != rows[0][4] - 1:
            with self._lock:
                self._keep(run_id, digest)  # rows came out of order: the digest stops here
            return
        digest.update(rows)
        with self._lock:
            self._keep(run_id, digest)

    def take(self, run_id: str) -> MetricsDigest | None:
        """``run_id``'s digest, no longer kept (a run is sealed once)."""
        with self._lock:
            return self._digests.pop(run_id, None)

    def _keep(self, run_id: str, digest: MetricsDigest) -> None:
        self._digests[run_id] = digest
        while len(self._digests) > self._most:
            self._digests.popitem(last=False)


def _as_stored(rows: Sequence[MetricRow]) -> bool:
    """Whether every value of ``rows`` reads back from the catalog as it is here."""
    for row in rows:
        value = row[1]
        if value is None:
            continue
        if type(value) is not float or value != value:  # noqa: PLR0124 - NaN is unequal to itself
            return False
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return False
    return True
