"""Runs: ``RunStore``, the Protocol tracking speaks to, and the frozen types it takes and returns.

A run is created in one write (its row, first params and tags, its environment blob and the ledger
entry ``run.started``), logs in batches, and is sealed in one write (``run.finished``, with the digest
of its record). Every write a client may retry is idempotent: metric rows are keyed by their run and
``seq``, params are immutable (the same value again is a no-op), tags are upserts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from labledger.stores.pages import Page
    from labledger.stores.run_filters import Node, OrderKey

__all__ = [
    "BlobRef",
    "FinishRun",
    "MetricPoint",
    "MetricRow",
    "MetricsSeal",
    "NewRun",
    "ParamRow",
    "Run",
    "RunLiveness",
    "RunQuery",
    "RunStore",
    "TagRow",
    "started_payload",
]

# (key, value or None for NaN, step, timestamp, seq): a metric value as a run logs it; ``seq`` is
# its place in the run, given as it is logged, and its natural key in a store.
MetricRow = tuple[str, float | None, int, float, int]
# (key, value as text, value as a number when it reads as one)
ParamRow = tuple[str, str, float | None]
# (key, value)
TagRow = tuple[str, str]
# (digest, size) of a blob a row refers to
BlobRef = tuple[str, int]


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged metric value."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class Run:
    """One tracked execution, with its latest metric values.

    ``status`` is as stored. A ``running`` run whose process died (on this host) or that has sent
    no heartbeat for longer than its lease (from another host) keeps ``running`` until a writer
    seals it ``crashed``; reading it says so in ``lost``.
    """

    id: str
    name: str
    status: str
    kind: str
    user: str
    host: str
    started_at: float
    ended_at: float | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    environment_digest: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    record_digest: str | None = None
    error: str | None = None
    heartbeat_at: float | None = None
    """When a ``running`` run last reported alive."""
    lost: str | None = None
    """Why a ``running`` run has lost its lease (``process 123 is gone``, ``no heartbeat for 20
    min``); ``None`` while it holds it and for runs that ended."""
    project_id: str | None = None
    """The id of the project the run belongs to."""
    pid: int | None = None
    """The process id of a ``running`` run (``None`` once it ended): with ``host`` and
    ``heartbeat_at``, what its lease is judged by."""

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run about to start (its status is ``running`` and its first heartbeat ``started_at``)."""

    id: str
    project_id: str
    name: str
    kind: str
    user: str
    host: str
    pid: int
    started_at: float
    environment_digest: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


def started_payload(run: NewRun) -> dict[str, Any]:
    """The payload of ``run``'s ``run.started`` entry: what the store writes, and what a client
    that signs its own entries signs (``verify`` holds the run's row to it; the entry's author
    is the run's user)."""
    return {
        "run_id": run.id,
        "name": run.name,
        "project_id": run.project_id,
        "kind": run.kind,
        "host": run.host,
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
    }


@dataclass(frozen=True, slots=True)
class MetricsSeal:
    """What a writer kept of a run's metric rows while it wrote them, in seq order.

    ``digest`` and ``count`` go into the run's record; ``summary`` (per key: ``count``, ``sum``,
    ``latest`` value at its ``step``) into the seal's ledger entry.
    """

    count: int
    digest: str
    summary: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FinishRun:
    """How a run ends: the seal ``RunStore.finish_run`` writes.

    Attributes:
        status: ``finished``, ``failed`` or ``killed``.
        ended_at: When it ended.
        error: What went wrong, for a failed or killed run.
        metrics: The rows not written yet, sorted by seq; written in the same transaction.
        metrics_seal: The digest of every metric row (those in ``metrics`` included), when the
            writer kept one; without it the store digests the rows as it holds them.
        run: The run as it was created, when the writer holds it; read back otherwise.
        params: The run's params, when the writer holds them; read back otherwise.
        tags: The run's tags, when the writer holds them; read back otherwise.
    """

    status: str
    ended_at: float
    error: str | None = None
    metrics: Sequence[MetricRow] = ()
    metrics_seal: MetricsSeal | None = None
    run: NewRun | None = None
    params: Mapping[str, str] | None = None
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A run search: runs matching ``filter`` (a tree from ``parse_filter``), in ``project_id``
    when given, sorted by ``order_by`` and then newest first."""

    filter: Node | None = None
    order_by: tuple[OrderKey, ...] = ()
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunLiveness:
    """What judges whether a ``running`` run is alive: where its process runs and when it last
    reported."""

    run_id: str
    host: str
    pid: int | None
    heartbeat_at: float | None
    project_id: str | None = None


class RunStore(Protocol):
    """Tracked runs: created, logged to in batches, sealed, searched and read back."""

    def create_run(
        self,
        run: NewRun,
        *,
        params: Sequence[ParamRow] = (),
        tags: Sequence[TagRow] = (),
        blobs: Sequence[BlobRef] = (),
    ) -> None:
        """Create a running run with its first params and tags, register the blobs it refers to
        (its environment) and append ``run.started`` to the ledger, in one transaction.

        Raises:
            ConflictError: A run with this id exists.
        """
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricRow] = (),
        params: Sequence[ParamRow] = (),
        tags: Sequence[TagRow] = (),
        batch_id: str | None = None,
    ) -> None:
        """Write a batch of a run's metrics, params and tags in one transaction.

        Idempotent: a metric row whose ``(run, seq)`` is stored already is skipped, a param
        logged again with the same value is left as it is, and tags are upserts, so a batch sent
        again under the same ``batch_id`` (its reply was lost) changes nothing. Each key's
        latest value is kept (the highest step, then the highest seq). Tags of an ended run
        are searchable at once.

        Raises:
            ConflictError: A param is stored already with another value; nothing is written.
            RunStateError: The batch holds metrics or params and the run has ended (finished,
                failed or marked crashed): a sealed record stays as sealed, so nothing is
                written. Checked in the batch's own transaction, so a finish cannot slip in
                between.
        """
        ...

    def finish_run(self, run_id: str, seal: FinishRun) -> str:
        """Seal a running run in one transaction: write its last metrics, its status and record
        digest, its search document, a ledger entry for each artifact not named yet and
        ``run.finished`` (with a signed checkpoint of the ledger when the workspace signs).

        Returns:
            The run's record digest.

        Raises:
            RunStateError: The run is not running (another process marked it crashed); nothing
                is written.
            ConflictError: The last metrics clash with stored ones; nothing is written.
        """
        ...

    def heartbeat(self, run_ids: Sequence[str], at: float) -> None:
        """Record that the runs' processes are alive at ``at``; runs that are unknown or no
        longer running are left as they are."""
        ...

    def get_runs(
        self, refs: Sequence[str], *, project_ids: Sequence[str] | None = None
    ) -> list[Run]:
        """The runs ``refs`` name (ids or unique id prefixes), in the order given; among runs of
        ``project_ids`` only, when given (a run of another project is then neither found nor
        makes a prefix ambiguous).

        Raises:
            NotFoundError: A reference names no run.
            AmbiguousReferenceError: A prefix names several runs, or is too short to be sure.
        """
        ...

    def search_runs(
        self, query: RunQuery, *, page_token: str | None = None, max_results: int = 100
    ) -> Page[Run]:
        """One page of the runs ``query`` matches; the token resumes after the page's last run,
        stable under runs created meanwhile.

        Raises:
            ValidationError: ``page_token`` is not one this store gave out, or ``max_results``
                is not a positive int.
        """
        ...

    def metric_history(
        self,
        run_id: str,
        keys: Sequence[str] | None = None,
        *,
        page_token: str | None = None,
        max_results: int = 1000,
    ) -> Page[MetricPoint]:
        """One page of a run's metric values (of ``keys`` when given), by key, step, time and
        seq.

        Raises:
            NotFoundError: No run has the id ``run_id`` (a full id).
            ValidationError: ``page_token`` is not one this store gave out.
        """
        ...

    def running(self, run_ids: Sequence[str] | None = None) -> list[RunLiveness]:
        """The runs with status ``running`` (of ``run_ids`` when given), with what judges their
        lease."""
        ...

    def mark_crashed(self, run_ids: Sequence[str], *, reason: str, at: float) -> list[str]:
        """Seal each run of ``run_ids`` that is still running as ``crashed``, as it stands (a
        ``run.crashed`` ledger entry with its record digest), in one transaction.

        Returns:
            The ids sealed; a run that ended meanwhile is left as it is.
        """
        ...
