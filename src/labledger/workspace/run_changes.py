"""Saying what changed in a sealed run: which part of its record, which param, which fact.

``verify`` rebuilds a run's record from the catalog; when its digest differs from the sealed one,
this module compares the parts the seal kept (a digest per part and per param, the pipeline facts
and the metric summary) with the record as it is now, and names each difference with its sealed
and current value where the seal holds the value itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_text
from labledger.workspace.records import (
    describe_metric_changes,
    metric_summary,
    param_digest,
    record_sections,
    run_record,
    short_digest,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Connection

__all__ = ["describe_run_changes"]

_PARTS = {
    "run": "its name, status, times, environment or git commit",
    "artifacts": "an artifact's blob, size, kind, format or schema",
    "tasks": "a task's code, params, cache key, status, inputs, outputs or log",
    "metrics": "a metric value",
}


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_run_changes(conn: Connection, run_id: str, payload: Mapping[str, Any]) -> list[str]:
    """What differs between the run's sealed record and its rows now (empty if unknown)."""
    changes: list[str] = []
    metrics = payload.get("metrics")
    if isinstance(metrics, dict):
        current = json.loads(canonical_text(metric_summary(conn, run_id)))
        changes += describe_metric_changes(metrics, current)
    sections = payload.get("sections")
    if not isinstance(sections, dict):
        return changes  # sealed before seals named their parts
    record = run_record(conn, run_id, record_format=2)
    now = {key: short_digest(value) for key, value in record_sections(record).items()}
    sealed_params = payload.get("param_digests")
    if now.get("params") != sections.get("params") and isinstance(sealed_params, dict):
        params = record["params"]
        for key in sorted(set(sealed_params) | set(params)):
            if key not in params:
                changes.append(f"param {key!r} was sealed but is gone")
            elif key not in sealed_params:
                changes.append(f"param {key!r} = {_value(params[key])} was added after the seal")
            elif param_digest(params[key]) != sealed_params[key]:
                changes.append(f"param {key!r} changed after the seal, now {_value(params[key])}")
    sealed_pipeline = payload.get("pipeline")
    if now.get("pipeline") != sections.get("pipeline") and isinstance(sealed_pipeline, dict):
        facts = record.get("pipeline") or {}
        for key in sorted(set(sealed_pipeline) | set(facts)):
            if sealed_pipeline.get(key) != facts.get(key):
                changes.append(
                    f"pipeline {key}: sealed {_value(sealed_pipeline.get(key))}, "
                    f"now {_value(facts.get(key))}"
                )
    for part, what in _PARTS.items():
        if part != "metrics" and now.get(part) != sections.get(part):
            changes.append(f"{what} changed")
    return changes
