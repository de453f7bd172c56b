"""What a run record of format 2 seals beyond format 1 (see ``records``).

Format 1 sealed each artifact's name and digest and, for a pipeline run, its tasks and their
outputs. Format 2 also seals what ``verify``, lineage and ``reproduce`` rely on:

- each artifact's size, kind, format and schema (digest of its ``schema_json``);
- for a pipeline run, its ``pipeline_runs`` row: the pipeline reference, the code snapshot, the
  environment lock, the key facts, the seed, the typed parameters, what it reproduces, and why
  it cannot be replayed;
- each task's literal params and options, its log and error, and **what it read** (its
  ``task_inputs`` edges with the digests of those artifacts).

A run's ledger seal says which format its record digest was made with (``record_format``), so a
run sealed before keeps verifying against the record it was sealed with.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from labledger._foundation.digests import Hasher, digest_record
from labledger.workspace import schema
from labledger.workspace.sqlite_driver import driver_connection

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Connection

__all__ = ["PIPELINE_FIELDS", "artifact_facts", "pipeline_facts", "task_facts_digest"]

_a, _p, _t, _i, _o = (
    schema.artifacts,
    schema.pipeline_runs,
    schema.tasks,
    schema.task_inputs,
    schema.task_outputs,
)
PIPELINE_FIELDS = (
    "pipeline",
    "code_digest",
    "lock_digest",
    "facts_digest",
    "seed",
    "params_json",
    "reproduces",
    "replay_error",
)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_ARTIFACTS = select(
    _a.c.name, _a.c.digest, _a.c.size, _a.c.kind, _a.c.format, _a.c.schema_json
).where(_a.c.run_id == bindparam("run_id"))
_PIPELINE = select(*(_p.c[name] for name in PIPELINE_FIELDS)).where(
    _p.c.run_id == bindparam("run_id")
)
_TASKS = (
    select(
        _t.c.node,
        _t.c.step,
        _t.c.fingerprint,
        _t.c.cache_key,
        _t.c.status,
        _t.c.cached_from,
        _t.c.params_json,
        _t.c.options_json,
        _t.c.log_digest,
        _t.c.logged_digest,
        _t.c.error,
    )
    .where(_t.c.run_id == bindparam("run_id"))
    .order_by(_t.c.node)
)
_OUTPUTS = (
    select(_t.c.node, _o.c.name, _a.c.digest, _o.c.produced, _o.c.materializer)
    .select_from(_t.join(_o, _o.c.task_id == _t.c.id).join(_a, _a.c.id == _o.c.artifact_id))
    .where(_t.c.run_id == bindparam("run_id"))
    .order_by(_t.c.node, _o.c.name)
)
_INPUTS = (
    select(_t.c.node, _i.c.name, _a.c.digest)
    .select_from(_t.join(_i, _i.c.task_id == _t.c.id).join(_a, _a.c.id == _i.c.artifact_id))
    .where(_t.c.run_id == bindparam("run_id"))
    .order_by(_t.c.node, _i.c.name)
)


_SQLITE_ARTIFACTS = (
    "SELECT name, digest, size, kind, format, schema_json FROM artifacts WHERE run_id = ?"
)


def artifact_facts(conn: Connection, bind: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each artifact of the run by name: digest, size, kind, format and schema digest."""
    db = driver_connection(conn)
    rows = (
        db.execute(_SQLITE_ARTIFACTS, (bind["run_id"],))
        if db is not None
        else conn.execute(_ARTIFACTS, bind)
    )
    return {
        name: {
            "digest": digest,
            "size": size,
            "kind": kind,
            "format": fmt,
            "schema": digest_record(schema_json),
        }
        for name, digest, size, kind, fmt, schema_json in rows
    }


def pipeline_facts(conn: Connection, bind: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's ``pipeline_runs`` row as a dict, or ``None`` when it has none."""
    row = conn.execute(_PIPELINE, bind).first()
    return None if row is None else dict(zip(PIPELINE_FIELDS, row, strict=True))


def task_facts_digest(conn: Connection, bind: Mapping[str, Any]) -> str:
    """Digest of every task of the run: what ran, with what, what it read and what it made.

    Rows are streamed into one hash, each as a line of compact JSON (text, numbers and nulls
    only), so a run of thousands of steps is digested at C speed.
    """
    hasher = Hasher()
    for part, query in ((b"tasks", _TASKS), (b"outputs", _OUTPUTS), (b"inputs", _INPUTS)):
        hasher.update(part + b"\n")
        for row in conn.execute(query, bind):
            hasher.update(
                _encode([v if not isinstance(v, bool) else int(v) for v in row]).encode() + b"\n"
            )
    return hasher.digest
