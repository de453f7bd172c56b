"""Public, frozen views of tracked things: what the API returns.

``Run``, ``MetricPoint`` and ``Artifact`` are what the stores return (``labledger.stores``); they
are named here too, where the tracking API has always offered them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labledger.stores.artifacts import Artifact
from labledger.stores.runs import MetricPoint, Run

__all__ = ["Artifact", "MetricPoint", "Run", "RunComparison"]


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
