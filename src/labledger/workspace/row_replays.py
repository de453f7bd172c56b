"""Replaying what the ledger says of metadata, collections and reproduction checks, and checking
the tables people see (latest metric values, searched param numbers) against what they derive from.

Part of ``verify``'s cross-checks (see ``cross_checks``): each function returns ``(kind, id,
reason)`` for each disagreement.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.canonical import canonical_text
from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.cross_checks import EntryIndex

__all__ = ["replayed_problems"]


def _shown(value: Any) -> str:
    return repr(value) if value is not None else "nothing"


def _metadata_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    values, fields = schema.metadata_values, schema.metadata_fields
    current: dict[tuple[str, str], dict[str, Any]] = {}
    query = select(
        values.c.target_kind,
        values.c.target_id,
        fields.c.name,
        fields.c.type,
        values.c.value_num,
        values.c.value_text,
    ).select_from(values.join(fields, values.c.field_id == fields.c.id))
    for target_kind, target_id, name, type_, number, text in conn.execute(query):
        value = number if type_ == "number" else text
        current.setdefault((target_kind, target_id), {})[name] = value
    problems: list[tuple[str, str, str]] = []
    for target in sorted(set(current) | set(index.metadata)):
        now, recorded = current.get(target, {}), index.metadata.get(target, {})
        for name in sorted(set(now) | set(recorded)):
            if now.get(name) != recorded.get(name):
                problems.append(
                    (
                        target[0],
                        target[1],
                        f"metadata {name!r} is {_shown(now.get(name))}, but the ledger's "
                        f"metadata entries set {_shown(recorded.get(name))}",
                    )
                )
    return problems


def _collection_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    members = schema.collection_members
    current: dict[str, set[tuple[str, str]]] = {}
    for collection_id, kind, member_id in conn.execute(
        select(members.c.collection_id, members.c.member_kind, members.c.member_id)
    ):
        current.setdefault(collection_id, set()).add((kind, member_id))
    problems: list[tuple[str, str, str]] = []
    for collection_id in sorted(set(current) | set(index.members)):
        now, recorded = current.get(collection_id, set()), index.members.get(collection_id, set())
        for kind, member_id in sorted(now - recorded):
            problems.append(
                (
                    "collection",
                    collection_id,
                    f"holds {kind} {member_id}, which the ledger never recorded adding",
                )
            )
        for kind, member_id in sorted(recorded - now):
            problems.append(
                (
                    "collection",
                    collection_id,
                    f"lacks {kind} {member_id}, which the ledger records as a member",
                )
            )
    return problems


def _verification_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    table = schema.verifications
    problems: list[tuple[str, str, str]] = []
    for artifact_id, rerun_id, matched in conn.execute(
        select(table.c.artifact_id, table.c.run_id, table.c.matched)
    ):
        recorded = index.reproduced.get((artifact_id, rerun_id))
        if recorded is None or bool(matched) != recorded:
            said = {None: "has no such check", True: "says it matched", False: "says it did not"}
            problems.append(
                (
                    "artifact",
                    artifact_id,
                    f"its reproduction check by run {rerun_id} says "
                    f"{'matched' if matched else 'mismatched'}, but the run.reproduced entry "
                    f"{said[recorded]}",
                )
            )
    return problems


def _definition_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    """Metadata field definitions and collections are what their entries made them."""
    problems: list[tuple[str, str, str]] = []
    f = schema.metadata_fields
    for row in conn.execute(select(f)):
        recorded = index.fields.get(row.id)
        if recorded is None:
            problems.append(
                ("field", row.id, f"field {row.name!r} has no ledger entry defining it")
            )
            continue
        for key, value in recorded.items():
            now = json.loads(canonical_text(getattr(row, key, None)))
            if key in row._mapping and now != value:
                problems.append(
                    (
                        "field",
                        row.id,
                        f"field {row.name!r}'s {key} is {now!r}, but its entries say {value!r}",
                    )
                )
    c = schema.collections
    seen = set()
    for collection_id, name, owner, project_id in conn.execute(
        select(c.c.id, c.c.name, c.c.owner, c.c.project_id)
    ):
        seen.add(collection_id)
        recorded = index.collection_rows.get(collection_id)
        if recorded is None:
            problems.append(
                ("collection", collection_id, f"{name!r} has no ledger entry creating it")
            )
        elif (name, owner) != (recorded["name"], recorded["owner"]):
            problems.append(
                (
                    "collection",
                    collection_id,
                    f"it is {name!r} of {owner}, but its entry created {recorded['name']!r} of "
                    f"{recorded['owner']}",
                )
            )
        elif recorded.get("project_id") not in (None, project_id):
            problems.append(
                (
                    "collection",
                    collection_id,
                    f"{name!r} is in project {project_id}, but its entry created it in "
                    f"{recorded['project_id']}",
                )
            )
    return problems


def _matched_without_rows(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    """A reproduction check the ledger says matched must have its row (lineage reads the rows)."""
    table = schema.verifications
    rows = {(a, r) for a, r in conn.execute(select(table.c.artifact_id, table.c.run_id))}
    return [
        (
            "artifact",
            artifact_id,
            f"the run.reproduced entry of run {rerun_id} says it matched, but its check row is gone",
        )
        for (artifact_id, rerun_id), matched in sorted(index.reproduced.items())
        if matched and (artifact_id, rerun_id) not in rows
    ]


def _param_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _param_numbers(conn: Connection) -> list[tuple[str, str, str]]:
    """``params.value_num`` (what searches compare) must be the number the param's text holds."""
    p = schema.params
    return [
        (
            "run",
            run_id,
            f"param {key!r} is {value!r}, but searches compare it as {number!r}",
        )
        for run_id, key, value, number in conn.execute(
            select(p.c.run_id, p.c.key, p.c.value, p.c.value_num)
        )
        if number != _param_number(value)
    ]


def _latest_metric_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    """``latest_metrics`` (what run lists, search and compare show) must say what the seal says."""
    lm = schema.latest_metrics
    shown: dict[str, dict[str, tuple[float | None, int]]] = {}
    for run_id, key, value, step in conn.execute(
        select(lm.c.run_id, lm.c.key, lm.c.value, lm.c.step)
    ):
        # As the sealed summary holds it: through canonical JSON (infinities become text).
        shown.setdefault(run_id, {})[key] = (json.loads(canonical_text(value)), step)
    problems: list[tuple[str, str, str]] = []
    for run_id, (_, payload) in sorted(index.seals.items()):
        sealed = payload.get("metrics")
        if not isinstance(sealed, dict):
            continue  # sealed before runs kept a metric summary
        now = shown.get(run_id, {})
        for key in sorted(set(sealed) | set(now)):
            summary = sealed.get(key)
            expected = (
                (summary.get("latest"), summary.get("step")) if isinstance(summary, dict) else None
            )
            if now.get(key) != expected:
                value = now.get(key)
                showing = f"{value[0]!r} at step {value[1]}" if value else "nothing"
                was = f"{expected[0]!r} at step {expected[1]}" if expected else "nothing"
                problems.append(
                    (
                        "run",
                        run_id,
                        f"metric {key!r} is shown as {showing} (the latest-values table that "
                        f"lists and searches read), but the run was sealed with {was}",
                    )
                )
    return problems


def replayed_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    """Every disagreement between these rows and what the ledger's entries make of them."""
    return (
        _metadata_problems(conn, index)
        + _collection_problems(conn, index)
        + _verification_problems(conn, index)
        + _matched_without_rows(conn, index)
        + _definition_problems(conn, index)
        + _param_numbers(conn)
        + _latest_metric_problems(conn, index)
    )
