"""Artifacts as the stores return them: typed, named values stored as blobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Artifact"]


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
