"""Public, frozen views of tracked things: what the API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Artifact", "MetricPoint", "Run", "RunComparison"]


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged metric value."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class Artifact:
    """A typed, named value stored as a blob."""

    id: str
    name: str
    kind: str
    format: str
    digest: str
    size: int
    run_id: str | None
    created_at: float
    created_by: str
    schema: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Several runs side by side: every param and metric key, and which params differ."""

    runs: list[Run]
    param_keys: list[str]
    metric_keys: list[str]
    differing_params: list[str]
    best: dict[str, str]
    lower_is_better: list[str] = field(default_factory=list)
    """The metric keys where the lowest value was taken as the best."""
