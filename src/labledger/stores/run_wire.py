"""How the run store's arguments and answers travel as JSON between a server and its clients.

Rows travel as arrays, not objects: a batch of 1,000 metric values is 1,000 short arrays
(``["loss", 0.12, 3, 1733390000.5, 42]``), read by pydantic's core without Python work per row.
A metric value that is NaN travels as ``null`` (JSON has no NaN), as the catalog stores it; an
infinite one as the string ``"Infinity"`` or ``"-Infinity"``.

A request names no user: the server attributes every run and write to whoever signed in. A
finish carries no seal, run, params or tags: the server's store reads back what it holds and
digests that. A client with a signing key signs the entries the server writes for it
(``signed_wire``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, WithJsonSchema

from labledger.stores.runs import MetricPoint, Run, RunLiveness
from labledger.stores.signed_wire import SignedBodyIn  # noqa: TC001 - pydantic reads it
from labledger.stores.wire import QueryNodeIn  # noqa: TC001 - pydantic reads field types at run time

__all__ = [
    "BlobRefIn",
    "CrashIn",
    "CreateRunIn",
    "FinishRunIn",
    "HeartbeatIn",
    "IdsOut",
    "LivenessOut",
    "LogBatchIn",
    "MetricPageOut",
    "MetricRowIn",
    "MetricValueIn",
    "NewRunIn",
    "OrderIn",
    "ParamRowIn",
    "RunOut",
    "RunPageOut",
    "RunRefsIn",
    "RunningIn",
    "RunsOut",
    "SealOut",
    "SearchRunsIn",
    "TagRowIn",
    "metric_number",
]

# Bounds the catalog holds (see ``labledger.tracking.checks``); a client's checks come first, these
# keep whatever else reaches the server from failing in the database.
_INT64 = 2**63 - 1
Key = Annotated[str, Field(min_length=1, max_length=250)]
Text = Annotated[str, Field(max_length=65_536)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Step = Annotated[int, Field(ge=-_INT64 - 1, le=_INT64, strict=True)]
Seq = Annotated[int, Field(ge=1, le=_INT64, strict=True)]
Timestamp = Annotated[float, Field(ge=0.0, le=253_402_300_799.0, strict=True)]
Number = Annotated[float, Field(allow_inf_nan=False)]
MetricValue = Annotated[
    float | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "enum": ["Infinity", "-Infinity", "NaN"]},
                {"type": "null"},
            ]
        }
    ),
]
"""A metric value: a number, ``"Infinity"``/``"-Infinity"``, or ``null`` for NaN (a ``"NaN"``
that reaches a route is stored as ``null`` too). The OpenAPI document says so: JSON has no
infinite numbers."""
MetricValueIn = Annotated[
    Annotated[float, Strict()] | Literal["Infinity", "-Infinity", "NaN"] | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "enum": ["Infinity", "-Infinity", "NaN"]},
                {"type": "null"},
            ]
        }
    ),
]
"""A metric value as a request carries it, read strictly (JSON's ``true`` is no number): a
number, the text ``"Infinity"``, ``"-Infinity"`` or ``"NaN"`` (kept as text here; the route
turns it into the float, ``metric_number``), or ``null``."""
MetricRowIn = tuple[Key, MetricValueIn, Step, Timestamp, Seq]
"""``[key, value, step, timestamp, seq]``."""
ParamRowIn = tuple[Key, Text, Number | None]
"""``[key, value as text, value as a number or null]``."""
TagRowIn = tuple[Key, Text]
"""``[key, value]``."""
BlobRefIn = tuple[
    Annotated[str, Field(pattern=r"^blake3:[0-9a-f]{64}$")], Annotated[int, Field(ge=0)]
]
"""``[digest, size]`` of a blob the run refers to (its environment)."""
_MAX_ROWS = 100_000
_MAX_IDS = 10_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewRunIn(_In):
    """A run about to start. ``host`` and ``pid`` describe the client's process; the user is
    whoever signed in."""

    id: Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
    project_id: Id
    name: Annotated[str, Field(min_length=1, max_length=300)]
    kind: Annotated[str, Field(min_length=1, max_length=20)]
    host: Annotated[str, Field(max_length=255)]
    pid: Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]
    started_at: Timestamp
    environment_digest: Annotated[str, Field(pattern=r"^blake3:[0-9a-f]{64}$")] | None = None
    git_commit: Annotated[str, Field(max_length=64)] | None = None
    git_dirty: bool | None = None


class CreateRunIn(_In):
    """A run with its first params and tags, and the blobs it refers to."""

    run: NewRunIn
    params: list[ParamRowIn] = Field(default_factory=list, max_length=_MAX_ROWS)
    tags: list[TagRowIn] = Field(default_factory=list, max_length=_MAX_ROWS)
    blobs: list[BlobRefIn] = Field(default_factory=list, max_length=100)
    signed: SignedBodyIn | None = None
    """The run's ``run.started`` entry, signed by the user's key (else the server signs)."""


class LogBatchIn(_In):
    """A batch of a run's metrics, params and tags; sent again under its ``batch_id``, it
    changes nothing."""

    metrics: list[MetricRowIn] = Field(default_factory=list, max_length=_MAX_ROWS)
    params: list[ParamRowIn] = Field(default_factory=list, max_length=_MAX_ROWS)
    tags: list[TagRowIn] = Field(default_factory=list, max_length=_MAX_ROWS)
    batch_id: Annotated[str, Field(max_length=200)] | None = None


class FinishRunIn(_In):
    """How a run ends, and the metric rows not written yet (the server seals what it holds)."""

    status: Literal["finished", "failed", "killed"]
    ended_at: Timestamp
    error: Text | None = None
    metrics: list[MetricRowIn] = Field(default_factory=list, max_length=_MAX_ROWS)
    signed: list[SignedBodyIn] = Field(default_factory=list, max_length=2)
    """The entries the finish makes (``POST .../seal-entries`` answers them), signed by the
    user's key; empty: the server signs."""


class HeartbeatIn(_In):
    """Runs whose processes are alive at ``at``."""

    run_ids: list[Id] = Field(max_length=_MAX_IDS)
    at: Timestamp


class RunRefsIn(_In):
    """Runs by id or unique id prefix."""

    refs: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=1000
    )
    project_ids: list[Id] | None = Field(
        default=None, max_length=_MAX_IDS, description="Only runs of these projects."
    )


class RunningIn(_In):
    """The running runs among ``run_ids``, or all of them."""

    run_ids: list[Id] | None = Field(default=None, max_length=_MAX_IDS)


class CrashIn(_In):
    """Runs to seal as ``crashed``, as they stand."""

    run_ids: list[Id] = Field(max_length=_MAX_IDS)
    reason: Annotated[str, Field(max_length=4000)]
    at: Timestamp


class OrderIn(_In):
    """One sort key: ``name`` is ``metrics.auc`` (target, a dot and the key, unquoted)."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    descending: bool = False


class SearchRunsIn(_In):
    """A run search: ``filter`` is filter text (``metrics.auc > 0.8``), ``where`` the same as a
    tree; at most one of them."""

    filter: Annotated[str, Field(max_length=100_000)] | None = None
    where: QueryNodeIn | None = None
    order_by: list[OrderIn] = Field(default_factory=list, max_length=20)
    project_id: Id | None = None
    page_token: Annotated[str, Field(max_length=4096)] | None = None
    max_results: Annotated[int, Field(ge=1, le=1000, strict=True)] = 100


class _Out(BaseModel):
    # Infinite metric values travel as "Infinity" and "-Infinity" (NaN ones as null).
    model_config = ConfigDict(ser_json_inf_nan="strings")


class RunOut(_Out):
    """A run as stored (``metrics`` holds ``null`` for a NaN latest value)."""

    id: str
    name: str
    status: str
    kind: str
    user: str
    host: str
    started_at: float
    ended_at: float | None
    params: dict[str, str]
    metrics: dict[str, MetricValue]
    tags: dict[str, str]
    environment_digest: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    record_digest: str | None = None
    error: str | None = None
    heartbeat_at: float | None = None
    project_id: str | None = None
    pid: int | None = None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        metrics = {k: None if math.isnan(v) else v for k, v in run.metrics.items()}
        return cls(
            id=run.id,
            name=run.name,
            status=run.status,
            kind=run.kind,
            user=run.user,
            host=run.host,
            started_at=run.started_at,
            ended_at=run.ended_at,
            params=run.params,
            metrics=metrics,
            tags=run.tags,
            environment_digest=run.environment_digest,
            git_commit=run.git_commit,
            git_dirty=run.git_dirty,
            record_digest=run.record_digest,
            error=run.error,
            heartbeat_at=run.heartbeat_at,
            project_id=run.project_id,
            pid=run.pid,
        )

    def run(self) -> Run:
        """The frozen ``Run`` (its lease judged by the reader, as locally)."""
        metrics = {k: math.nan if v is None else v for k, v in self.metrics.items()}
        fields = self.model_dump(exclude={"metrics"})
        return Run(**fields, metrics=metrics)


class RunsOut(_Out):
    """Runs, in the order asked for."""

    items: list[RunOut]


class RunPageOut(_Out):
    """One page of a search; ``next_page_token`` resumes after its last run."""

    items: list[RunOut]
    next_page_token: str | None = None


class MetricPageOut(_Out):
    """One page of a metric history: ``[key, value or null for NaN, step, timestamp]`` each."""

    items: list[tuple[str, MetricValue, int, float]]
    next_page_token: str | None = None

    def points(self) -> list[MetricPoint]:
        return [
            MetricPoint(key, math.nan if value is None else value, step, ts)
            for key, value, step, ts in self.items
        ]


class LivenessOut(BaseModel):
    """Running runs and what judges their lease."""

    items: list[RunLiveness]


class IdsOut(BaseModel):
    """Run ids (those sealed, say)."""

    ids: list[str]


class SealOut(BaseModel):
    """The record digest a run was sealed with."""

    record_digest: str


_TEXT_VALUES = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": None}


def metric_number(value: float | str | None) -> float | None:
    """A ``MetricValueIn`` as the catalog keeps it: a float, or ``None`` for NaN."""
    if isinstance(value, str):
        return _TEXT_VALUES[value]
    return None if value is None or math.isnan(value) else value
