"""verify holds an artifact's creation time, stats and schema to the entry that produced it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import sqlalchemy as sa

from labledger.tracking.artifacts import get_artifact, store_artifact
from labledger.tracking.run import start_run
from labledger.workspace.cross_checks import EntryIndex, cross_check
from labledger.workspace.ledger import iter_entries
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

_EDITS = {
    "created_at": ("UPDATE artifacts SET created_at = created_at + 3600 WHERE id = :i", "its created_at reads"),
    "stats": ("""UPDATE artifacts SET stats_json = '{"rows": 2}' WHERE id = :i""", "its stats changed"),
    "schema": ("""UPDATE artifacts SET schema_json = '{"fields":[]}' WHERE id = :i""", "its schema changed"),
}  # fmt: skip


def _edit(ws: Workspace, statement: str, **params: object) -> None:
    with ws.catalog.writer.begin() as conn:
        conn.execute(sa.text(statement), params)


def _row(ws: Workspace, artifact_id: str) -> dict[str, Any]:
    with ws.read() as conn:
        return dict(
            conn.execute(
                sa.text("SELECT created_at, stats_json, schema_json FROM artifacts WHERE id = :i"),
                {"i": artifact_id},
            )
            .mappings()
            .one()
        )


def _restore(ws: Workspace, artifact_id: str, row: dict[str, Any]) -> None:
    _edit(
        ws,
        "UPDATE artifacts SET created_at = :c, stats_json = :s, schema_json = :h WHERE id = :i",
        c=row["created_at"],
        s=row["stats_json"],
        h=row["schema_json"],
        i=artifact_id,
    )


def _reasons(ws: Workspace, artifact_id: str) -> list[str]:
    report = verify_workspace(ws, blobs=False, remember=False)
    return [p.reason for p in report.problems if (p.kind, p.id) == ("artifact", artifact_id)]


def _table() -> pd.DataFrame:
    return pd.DataFrame({"signal": [1.0, 2.5, 4.0], "well": ["A1", "A2", "A3"]})


def _logged(ws: Workspace) -> tuple[str, str]:
    """A table logged by a run and one logged without a run: their ids."""
    with start_run("assay", workspace=ws) as run:
        of_run = run.log_artifact(_table(), name="plate")
    loose = store_artifact(ws, _table(), name="plate-loose")
    assert loose.run_id is None and loose.stats and loose.schema
    return of_run.id, loose.id


@pytest.mark.parametrize("fact", sorted(_EDITS))
def test_an_edited_creation_time_stats_or_schema_is_reported_with_the_artifact_and_field(
    workspace: Workspace, fact: str
) -> None:
    of_run, loose = _logged(workspace)
    assert verify_workspace(workspace, blobs=False, remember=False).ok
    statement, said = _EDITS[fact]
    for artifact_id, name in ((of_run, "plate"), (loose, "plate-loose")):
        before = _row(workspace, artifact_id)
        _edit(workspace, statement, i=artifact_id)
        reasons = _reasons(workspace, artifact_id)
        assert any(said in r and f"artifact {name!r}" in r for r in reasons), (fact, reasons)
        _restore(workspace, artifact_id, before)
        assert verify_workspace(workspace, blobs=False, remember=False).ok


def test_a_back_dated_artifact_changes_what_a_name_finds_and_verify_says_so(
    workspace: Workspace,
) -> None:
    first = store_artifact(workspace, {"dose": 1}, name="calibration")
    second = store_artifact(workspace, {"dose": 2}, name="calibration")
    assert get_artifact("calibration", workspace=workspace).id == second.id
    _edit(
        workspace, "UPDATE artifacts SET created_at = created_at + 86400 WHERE id = :i", i=first.id
    )
    assert get_artifact("calibration", workspace=workspace).id == first.id
    (reason,) = _reasons(workspace, first.id)
    assert "its created_at reads" in reason and "which one it finds" in reason
    assert f"{first.created_at!r}" in reason  # what the entry says, as stored


def test_the_same_document_stored_another_way_is_not_a_change(workspace: Workspace) -> None:
    _, loose = _logged(workspace)
    row = _row(workspace, loose)
    spaced = row["stats_json"].replace(",", ", ").replace(":", ": ")
    assert spaced != row["stats_json"]
    _edit(workspace, "UPDATE artifacts SET stats_json = :s WHERE id = :i", s=spaced, i=loose)
    assert _reasons(workspace, loose) == []


def test_a_document_with_a_key_given_twice_is_never_the_one_the_entry_names(
    workspace: Workspace,
) -> None:
    _, loose = _logged(workspace)
    stats = _row(workspace, loose)["stats_json"]
    assert stats.startswith("{")
    # The true value last: a reader keeping the last key sees no change, one keeping the first
    # sees the false one. Both kinds of reader exist, so it is reported.
    doubled = '{"rows": 99, ' + stats[1:]
    _edit(workspace, "UPDATE artifacts SET stats_json = :s WHERE id = :i", s=doubled, i=loose)
    assert any("its stats changed" in reason for reason in _reasons(workspace, loose))


@pytest.mark.parametrize(
    ("statement", "said"),
    [
        ("UPDATE artifacts SET stats_json = 5 WHERE id = :i", "its stats changed"),
        ("UPDATE artifacts SET schema_json = x'00ff' WHERE id = :i", "its schema changed"),
        ("UPDATE artifacts SET stats_json = 'not json' WHERE id = :i", "its stats changed"),
        ("UPDATE artifacts SET created_at = 'yesterday' WHERE id = :i", "its created_at reads"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_finding_not_a_crash(
    workspace: Workspace, statement: str, said: str
) -> None:
    _, loose = _logged(workspace)
    _edit(workspace, statement, i=loose)
    assert any(said in reason for reason in _reasons(workspace, loose))


def _pipeline_outputs(ws: Workspace) -> list[str]:
    from labledger.pipelines import pipeline, step

    @step
    def wells(n: int) -> list[int]:
        return list(range(n))

    @step
    def more(values: list[int]) -> list[int]:
        return [*values, len(values)]

    @pipeline
    def plate(n: int = 3) -> Any:
        return more(wells(n))

    plate.run(workspace=ws)
    with ws.read() as conn:
        (entry,) = iter_entries(conn, kind="artifacts.produced")
    listed = [item[0] for item in entry.payload["artifacts"]]
    assert len(entry.payload["created_at"]) == len(entry.payload["stats_digest"]) == len(listed)
    return listed


def test_pipeline_outputs_are_held_to_the_entry_that_names_them_at_the_seal(
    workspace: Workspace,
) -> None:
    outputs = _pipeline_outputs(workspace)
    assert verify_workspace(workspace, blobs=False, remember=False).ok
    for artifact_id in outputs:
        for fact in ("created_at", "stats"):
            statement, said = _EDITS[fact]
            before = _row(workspace, artifact_id)
            _edit(workspace, statement, i=artifact_id)
            assert any(said in r for r in _reasons(workspace, artifact_id)), (fact, artifact_id)
            _restore(workspace, artifact_id, before)
    # The schema of a run's artifact is held by the run's seal.
    before = _row(workspace, outputs[0])
    _edit(workspace, _EDITS["schema"][0], i=outputs[0])
    kinds = {p.kind for p in verify_workspace(workspace, blobs=False, remember=False).problems}
    assert "run" in kinds
    _restore(workspace, outputs[0], before)
    assert verify_workspace(workspace, blobs=False, remember=False).ok


def _cross_checked(ws: Workspace, strip: set[str], null: frozenset[str] = frozenset()) -> list[str]:
    """The problems of a cross check over produced entries with the keys ``strip`` taken out (as
    entries written before they were added lack them) and the keys ``null`` set to null."""
    index = EntryIndex()
    with ws.read() as conn:
        for entry in iter_entries(conn):
            payload = entry.payload
            if entry.kind in ("artifact.produced", "artifacts.produced"):
                payload = {k: v for k, v in payload.items() if k not in strip}
                payload.update({k: None for k in null})
            index.visit(dataclasses.replace(entry, payload=payload))
        return [reason for _, _, reason in cross_check(conn, index)]


def test_entries_written_before_the_facts_were_added_do_not_hold_them(
    workspace: Workspace,
) -> None:
    of_run, loose = _logged(workspace)
    outputs = _pipeline_outputs(workspace)
    for artifact_id in (of_run, loose, *outputs):
        for statement, _ in _EDITS.values():
            _edit(workspace, statement, i=artifact_id)
    facts = {"created_at", "schema_digest", "stats_digest"}
    assert _cross_checked(workspace, strip=facts) == []
    # A key that is there holds the artifact, even when it says null.
    held = _cross_checked(
        workspace, strip=facts - {"stats_digest"}, null=frozenset({"stats_digest"})
    )
    assert len(held) == 2 + len(outputs) and all("its stats changed" in r for r in held)
