"""Run records: the canonical summary of a finished run that its ledger entry seals.

The record covers what a run was given and produced (status, times, environment, params, every
metric value, artifacts), not its tags, which stay editable annotations. ``verify`` rebuilds it from
the catalog and compares its digest with the one sealed in the ledger, so editing a param or metric
row after the fact is detected.

Metric values enter the record as a running digest over the rows in the order they were logged
(``metrics.seq``, given by the run as each value is logged), so a run can seal a million values
without reading them back, and the digest does not depend on the order batches committed in. The
seq numbers themselves are not digested, only the order they give: records sealed when rows were
ordered by ``metrics.id`` (the same order, see migration 0005) still verify.
"""

from __future__ import annotations

import itertools
import math
import struct
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from labledger._foundation.digests import Hasher, digest_bytes, digest_record
from labledger.workspace import schema
from labledger.workspace.record_facts import artifact_facts, pipeline_facts, task_facts_digest
from labledger.workspace.sqlite_driver import driver_connection, select_sql

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Mapping

    from sqlalchemy import Connection

    from labledger.stores.runs import MetricsSeal

__all__ = [
    "RECORD_FORMAT",
    "RUN_FIELDS",
    "MetricsDigest",
    "describe_metric_changes",
    "metric_summary",
    "metrics_digest",
    "param_digest",
    "record_digest",
    "record_sections",
    "run_record",
    "run_record_digest",
    "seal_fields",
    "sealed_format",
    "short_digest",
]

# The format new seals use; ``record_facts`` says what format 2 adds to format 1.
RECORD_FORMAT = 2
RUN_FIELDS = ("id", "name", "status", "started_at", "ended_at", "environment_digest", "git_commit")

_ROW = struct.Struct("<Idqd")
_DIGEST_SLICE = 4096  # metric rows packed and hashed at a time
_RUN = select(schema.runs).where(schema.runs.c.id == bindparam("run_id"))
_PARAMS = select(schema.params.c.key, schema.params.c.value).where(
    schema.params.c.run_id == bindparam("run_id")
)
_METRICS = (
    select(
        schema.metrics.c.key,
        schema.metrics.c.value,
        schema.metrics.c.step,
        schema.metrics.c.timestamp,
        schema.metrics.c.seq,
    )
    .where(schema.metrics.c.run_id == bindparam("run_id"))
    .order_by(schema.metrics.c.seq)
)
_METRICS_AFTER = _METRICS.where(schema.metrics.c.seq > bindparam("after"))
_ROWS_UPTO = (
    select(func.count())
    .select_from(schema.metrics)
    .where(schema.metrics.c.run_id == bindparam("run_id"), schema.metrics.c.seq <= bindparam("seq"))
)
_ARTIFACTS = select(schema.artifacts.c.name, schema.artifacts.c.digest).where(
    schema.artifacts.c.run_id == bindparam("run_id")
)
# Read when every run is sealed, so SQLite gets them from the driver (see sqlite_driver).
_SQLITE_ARTIFACTS = select_sql(schema.artifacts, ("name", "digest"), ("run_id",))
_SQLITE_METRICS = (
    select_sql(schema.metrics, ("key", "value", "step", "timestamp", "seq"), ("run_id",))
    + ' ORDER BY "seq"'
)
_SQLITE_METRICS_AFTER = _SQLITE_METRICS.replace(' ORDER BY "seq"', ' AND "seq" > ? ORDER BY "seq"')
_SQLITE_ROWS_UPTO = 'SELECT count(*) FROM "metrics" WHERE "run_id" = ? AND "seq" <= ?'


class MetricsDigest:
    """A running digest of metric rows ``(key, value or None for NaN, step, timestamp, seq)``,
    given in seq order (the seq itself is not digested).

    Beside the digest it keeps, per key, the number of values, their sum and the latest value (the
    one at the highest step, then the highest seq): the summary sealed with a run, so ``verify`` can
    say which metric changed and from what to what.
    """

    __slots__ = ("_codes", "_hasher", "_keys", "count", "last_seq")

    def __init__(self) -> None:
        self._hasher = Hasher()
        self._keys: dict[str, list[Any]] = {}
        self._codes: dict[str, bytes] = {}  # each key's UTF-8 bytes
        self.count = 0
        self.last_seq = 0  # the seq of the last row digested

    def update(self, rows: Iterable[tuple[str, float | None, int, float, int]]) -> None:
        # A fixed binary layout per row (length-prefixed key, then value, step and time), far
        # cheaper than JSON: a run of a million values is sealed without reading it back. Rows
        # are packed a slice at a time and hashed in one call each (a hash of the joined bytes
        # is the hash of the rows one by one).
        pack, codes, nan = _ROW.pack, self._codes, math.nan
        them = iter(rows)
        while batch := list(itertools.islice(them, _DIGEST_SLICE)):
            for key in {row[0] for row in batch}.difference(codes):
                codes[key] = key.encode("utf-8")
            self._hasher.update(
                b"".join(
                    [
                        pack(len(code := codes[key]), nan if value is None else value, step, at)
                        + code
                        for key, value, step, at, _seq in batch
                    ]
                )
            )
            self.count += len(batch)
            self.last_seq = batch[-1][4]
            self._summarise(batch)

    def _summarise(self, batch: list[tuple[str, float | None, int, float, int]]) -> None:
        keys = self._keys
        for key, value, step, _at, _seq in batch:
            seen = keys.get(key)
            if seen is None:
                keys[key] = [1, value or 0.0, step, value]
                continue
            seen[0] += 1
            if value is not None:
                seen[1] += value
            if step >= seen[2]:
                seen[2], seen[3] = step, value

    def copy(self) -> MetricsDigest:
        clone = MetricsDigest()
        clone._hasher = self._hasher.copy()
        clone._keys = {key: list(seen) for key, seen in self._keys.items()}
        clone._codes = dict(self._codes)
        clone.count, clone.last_seq = self.count, self.last_seq
        return clone

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per key: ``count`` of values, their ``sum``, and the ``latest`` value at its ``step``."""
        return {
            key: {"count": count, "sum": total, "step": step, "latest": latest}
            for key, (count, total, step, latest) in sorted(self._keys.items())
        }

    @property
    def digest(self) -> str:
        return self._hasher.digest


def run_record(
    conn: Connection,
    run_id: str,
    *,
    run: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    metrics: MetricsDigest | MetricsSeal | None = None,
    record_format: int = RECORD_FORMAT,
) -> dict[str, Any]:
    """The canonical record of a run.

    Args:
        conn: A connection inside the transaction that sees the run's rows.
        run_id: The run.
        run: The run row's ``RUN_FIELDS``, when the caller has them; read from the catalog if not.
        params: The run's params, when the caller has them.
        metrics: The digest of the run's metric rows, when the caller kept one while writing them.
        record_format: 1 or 2 (see ``record_facts``): the format the run was sealed with.
    """
    bind = {"run_id": run_id}
    row = run if run is not None else conn.execute(_RUN, bind).one()._mapping
    if params is None:
        params = {r.key: r.value for r in conn.execute(_PARAMS, bind)}
    if metrics is None:
        metrics = metrics_digest(conn, run_id)
    if record_format >= 2:
        return _record_v2(conn, bind, dict(row), params, metrics)
    db = driver_connection(conn)
    artifacts = (
        db.execute(_SQLITE_ARTIFACTS, (run_id,))
        if db is not None
        else conn.execute(_ARTIFACTS, bind)
    )
    record = {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "environment": row["environment_digest"],
        "git_commit": row["git_commit"],
        "params": dict(params),
        "metrics": {"count": metrics.count, "digest": metrics.digest},
        "artifacts": {name: digest for name, digest in artifacts},
    }
    if row.get("kind") == "pipeline":
        # Only pipeline runs have tasks; other runs keep the record they were sealed with.
        record["tasks"] = _tasks_digest(conn, bind)
    return record


def _record_v2(
    conn: Connection,
    bind: Mapping[str, Any],
    row: Mapping[str, Any],
    params: Mapping[str, str],
    metrics: MetricsDigest | MetricsSeal,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "format": 2,
        "run": {
            "id": row["id"],
            "name": row["name"],
            "status": row["status"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "environment": row["environment_digest"],
            "git_commit": row["git_commit"],
        },
        "params": dict(params),
        "metrics": {"count": metrics.count, "digest": metrics.digest},
        "artifacts": artifact_facts(conn, bind),
    }
    if row.get("kind") == "pipeline":
        record["pipeline"] = pipeline_facts(conn, bind)
        record["tasks"] = task_facts_digest(conn, bind)
    return record


def record_sections(record: Mapping[str, Any]) -> dict[str, str]:
    """A digest per part of a format 2 record, so ``verify`` can say which part changed."""
    return {key: digest_record(value) for key, value in record.items() if key != "format"}


_TASKS = (
    select(
        schema.tasks.c.node,
        schema.tasks.c.step,
        schema.tasks.c.fingerprint,
        schema.tasks.c.cache_key,
        schema.tasks.c.status,
        schema.tasks.c.cached_from,
        schema.task_outputs.c.name,
        schema.artifacts.c.digest,
        schema.tasks.c.logged_digest,
    )
    .select_from(
        schema.tasks.outerjoin(
            schema.task_outputs, schema.task_outputs.c.task_id == schema.tasks.c.id
        ).outerjoin(schema.artifacts, schema.artifacts.c.id == schema.task_outputs.c.artifact_id)
    )
    .where(schema.tasks.c.run_id == bindparam("run_id"))
    .order_by(schema.tasks.c.node, schema.task_outputs.c.name)
)


def _tasks_digest(conn: Connection, bind: Mapping[str, Any]) -> str:
    """Digest of a pipeline run's tasks: what each ran, its cache key, status, output bytes, and
    the metrics and tags it logged (a later run reusing the task shows them).

    A task that logged nothing contributes the row it did before ``logged_digest`` existed, so
    records sealed then still verify.
    """
    return digest_record(
        [list(row[:-1]) if row[-1] is None else list(row) for row in conn.execute(_TASKS, bind)]
    )


def run_record_digest(
    conn: Connection,
    run_id: str,
    *,
    run: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    metrics: MetricsDigest | MetricsSeal | None = None,
    record_format: int = RECORD_FORMAT,
) -> str:
    """Digest of ``run_record``: of the record itself for format 1, of its parts' digests for 2."""
    record = run_record(
        conn, run_id, run=run, params=params, metrics=metrics, record_format=record_format
    )
    return record_digest(record)


def record_digest(record: Mapping[str, Any]) -> str:
    """The digest a record is sealed with (format 2: over the digest of each part)."""
    if record.get("format") == 2:
        return digest_record({"format": 2, "sections": record_sections(record)})
    return digest_record(record)


def seal_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a seal entry carries about a format 2 ``record``: its digest and format, a digest per
    part and per param (so ``verify`` names what changed), and the pipeline facts as they were."""
    sections = record_sections(record)
    fields: dict[str, Any] = {
        "record_digest": digest_record({"format": 2, "sections": sections}),
        "record_format": record.get("format", 1),
        # Short forms: they only name what changed; the record digest covers every byte.
        "sections": {key: short_digest(value) for key, value in sections.items()},
        "param_digests": {k: param_digest(v) for k, v in sorted(record["params"].items())},
    }
    if record.get("pipeline") is not None:
        fields["pipeline"] = record["pipeline"]
    return fields


def short_digest(digest: str) -> str:
    """The first 16 hex digits of a digest: enough to tell which part of a record changed."""
    return digest.removeprefix("blake3:")[:16]


def param_digest(value: str) -> str:
    """How a seal names one param's value (a param is stored as text), in short form."""
    return short_digest(digest_bytes(value.encode("utf-8")))


def sealed_format(payload: Mapping[str, Any]) -> int:
    """The record format a seal's digest was made with (1 before ``record_format`` existed)."""
    value = payload.get("record_format", 1)
    return value if isinstance(value, int) and value in (1, 2) else 1


def metrics_digest(
    conn: Connection, run_id: str, *, known: MetricsDigest | None = None
) -> MetricsDigest:
    """The ``MetricsDigest`` of a run's metric rows as the catalog holds them now, in seq order.

    With ``known``, a digest of the same run's rows read earlier (before a write transaction,
    say, so that reading a long run back does not hold other writers up): when the rows up to
    its last seq are still as many as it digested, only the rows stored after them are read and
    digested onto a copy of it; otherwise (a row came in below that seq) every row is read.
    """
    db = driver_connection(conn)
    if known is not None and _rows_upto(conn, db, run_id, known.last_seq) == known.count:
        metrics, after = known.copy(), known.last_seq
    else:
        metrics, after = MetricsDigest(), None
    if db is not None:  # SQLite: rows straight from the driver, as plain tuples
        if after is None:
            metrics.update(db.execute(_SQLITE_METRICS, (run_id,)))
        else:
            metrics.update(db.execute(_SQLITE_METRICS_AFTER, (run_id, after)))
    elif after is None:
        metrics.update(conn.execute(_METRICS, {"run_id": run_id}))
    else:
        metrics.update(conn.execute(_METRICS_AFTER, {"run_id": run_id, "after": after}))
    return metrics


def _rows_upto(conn: Connection, db: sqlite3.Connection | None, run_id: str, seq: int) -> int:
    if db is not None:
        return int(db.execute(_SQLITE_ROWS_UPTO, (run_id, seq)).fetchone()[0])
    return int(conn.execute(_ROWS_UPTO, {"run_id": run_id, "seq": seq}).scalar_one())


def metric_summary(conn: Connection, run_id: str) -> dict[str, dict[str, Any]]:
    """``MetricsDigest.summary()`` of a run's metric rows as the catalog holds them now."""
    return metrics_digest(conn, run_id).summary()


def _shown(value: Any) -> str:
    return "NaN" if value is None else repr(value) if isinstance(value, float) else str(value)


def describe_metric_changes(
    sealed: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Say, per metric key, how the current rows differ from the summary sealed with the run.

    Both summaries must have been through canonical JSON (as the sealed one has, in the ledger).
    """
    changes = []
    for key in sorted(set(sealed) | set(current)):
        was, now = sealed.get(key), current.get(key)
        if was == now:
            continue
        if was is None or now is None:
            present = now or was or {}
            where = f"{_shown(present['latest'])} at step {present['step']}"
            state = "was not sealed, now" if was is None else "was sealed but is gone, last"
            changes.append(f"metric {key!r} {state} {where}")
        elif (was["step"], was["latest"]) != (now["step"], now["latest"]):
            changes.append(
                f"metric {key!r}: sealed {_shown(was['latest'])} at step {was['step']}, "
                f"now {_shown(now['latest'])} at step {now['step']}"
            )
        elif was["count"] != now["count"]:
            changes.append(f"metric {key!r}: {was['count']} values sealed, {now['count']} now")
        else:
            changes.append(
                f"metric {key!r}: an earlier value changed (values summed to "
                f"{_shown(was['sum'])} when sealed, {_shown(now['sum'])} now)"
            )
    return changes
