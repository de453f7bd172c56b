"""Runs as the stores return them: a run with its latest metric values, and a metric point."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricPoint", "Run"]


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

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at
