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
    """One tracked execution, with its latest metric values."""

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

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at
