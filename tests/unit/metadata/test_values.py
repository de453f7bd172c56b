"""Setting, reading and removing metadata values, and every way a value can be refused."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.metadata import (
    define_field,
    get_metadata,
    missing_required,
    remove_metadata,
    set_metadata,
)
from labledger.workspace import schema

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.tracking import ActiveRun, Artifact
    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def fields(workspace: Workspace) -> None:
    define_field(
        "concentration_um", "number", unit="uM", minimum=0, maximum=100, workspace=workspace
    )
    define_field("operator", "text", applies_to="run", workspace=workspace)
    define_field("acquired", "date", workspace=workspace)
    define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)
    define_field("plate_barcode", "text", applies_to="artifact", required=True, workspace=workspace)
    define_field("protocol", "text", required=True, workspace=workspace)


def _stored(workspace: Workspace, name: str) -> tuple[float | None, str | None]:
    values, fields = schema.metadata_values, schema.metadata_fields
    with workspace.read() as conn:
        row = conn.execute(
            sa.select(values.c.value_num, values.c.value_text)
            .select_from(values.join(fields, values.c.field_id == fields.c.id))
            .where(fields.c.name == name)
        ).one()
    return row.value_num, row.value_text


@pytest.mark.usefixtures("fields")
def test_set_and_get_each_type(workspace: Workspace, run: ActiveRun) -> None:
    result = set_metadata(
        run.id,
        {
            "concentration_um": 12.5,
            "operator": "ada",
            "acquired": "2024-05-01",
            "cell_line": "HeLa",
        },
        workspace=workspace,
    )
    expected = {
        "acquired": "2024-05-01",
        "cell_line": "HeLa",
        "concentration_um": 12.5,
        "operator": "ada",
    }
    assert result == expected
    assert get_metadata(run.id, workspace=workspace) == expected
    assert get_metadata(("run", run.id), workspace=workspace) == expected
    assert _stored(workspace, "concentration_um") == (12.5, None)
    assert _stored(workspace, "operator") == (None, "ada")


@pytest.mark.usefixtures("fields")
def test_values_replace_earlier_values_and_keep_others(
    workspace: Workspace, run: ActiveRun
) -> None:
    set_metadata(run.id, {"concentration_um": 1, "cell_line": "HeLa"}, workspace=workspace)
    result = set_metadata(run.id, {"concentration_um": "2.5"}, workspace=workspace)
    assert result == {"cell_line": "HeLa", "concentration_um": 2.5}


@pytest.mark.usefixtures("fields")
def test_artifacts_take_metadata(workspace: Workspace, artifact: Artifact) -> None:
    set_metadata(artifact.id, {"plate_barcode": "P-0001"}, workspace=workspace)
    assert get_metadata(("artifact", artifact.id), workspace=workspace) == {
        "plate_barcode": "P-0001"
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"concentration_um": "abc"}, "'concentration_um' is a number (in uM), not str 'abc'"),
        ({"concentration_um": True}, "is a number (in uM), not bool True"),
        ({"concentration_um": float("nan")}, "is a number (in uM), not float nan"),
        ({"concentration_um": [1]}, "is a number (in uM), not list [1]"),
        ({"operator": 5}, "'operator' is text, so it takes text, not int 5"),
        ({"cell_line": 3}, "'cell_line' is enum, so it takes text, not int 3"),
        ({"acquired": "yesterday"}, "'acquired' is a date; 'yesterday' is not an ISO date"),
        ({"acquired": 1714521600}, "'acquired' is a date, not int 1714521600"),
        ({"operator": "x" * 10_001}, "got 10001 characters, more than 10000"),
    ],
)
@pytest.mark.usefixtures("fields")
def test_wrong_types_are_refused(
    workspace: Workspace, run: ActiveRun, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        set_metadata(run.id, values, workspace=workspace)
    assert message in str(error.value)


@pytest.mark.parametrize("value", [-0.5, 100.01, 1e9])
@pytest.mark.usefixtures("fields")
def test_out_of_bounds_names_the_bounds_and_unit(
    workspace: Workspace, run: ActiveRun, value: float
) -> None:
    with pytest.raises(ValidationError) as error:
        set_metadata(run.id, {"concentration_um": value}, workspace=workspace)
    assert f"got {value:g} uM, outside its bounds 0 to 100 uM" in str(error.value)
    assert "check the value and its unit" in str(error.value)


@pytest.mark.usefixtures("fields")
def test_bounds_are_inclusive(workspace: Workspace, run: ActiveRun) -> None:
    set_metadata(run.id, {"concentration_um": 0}, workspace=workspace)
    assert set_metadata(run.id, {"concentration_um": 100}, workspace=workspace) == {
        "concentration_um": 100.0
    }


def test_one_sided_bound(workspace: Workspace, run: ActiveRun) -> None:
    define_field("dose", "number", minimum=1, workspace=workspace)
    with pytest.raises(ValidationError, match="outside its bounds 1 to inf"):
        set_metadata(run.id, {"dose": 0}, workspace=workspace)


@pytest.mark.usefixtures("fields")
def test_enum_value_not_in_choices_lists_them(workspace: Workspace, run: ActiveRun) -> None:
    with pytest.raises(ValidationError) as error:
        set_metadata(run.id, {"cell_line": "hela"}, workspace=workspace)
    assert "got 'hela', which is not one of its choices: HeLa, U2OS" in str(error.value)


@pytest.mark.usefixtures("fields")
def test_unknown_field_says_how_to_define_it(workspace: Workspace, run: ActiveRun) -> None:
    with pytest.raises(NotFoundError) as error:
        set_metadata(run.id, {"ph": 7}, workspace=workspace)
    assert "no metadata field named 'ph'" in str(error.value)
    assert "define_field('ph', 'number')" in str(error.value)


@pytest.mark.usefixtures("fields")
def test_field_not_applicable_to_the_target_kind(
    workspace: Workspace, run: ActiveRun, artifact: Artifact
) -> None:
    with pytest.raises(ValidationError) as error:
        set_metadata(artifact.id, {"operator": "ada"}, workspace=workspace)
    assert f"'operator' applies to runs only, not to artifact {artifact.id}" in str(error.value)
    assert "update_field(applies_to='both')" in str(error.value)
    with pytest.raises(ValidationError, match="applies to artifacts only, not to run"):
        set_metadata(run.id, {"plate_barcode": "P-1"}, workspace=workspace)


@pytest.mark.usefixtures("fields")
def test_unknown_targets(workspace: Workspace, run: ActiveRun) -> None:
    with pytest.raises(NotFoundError, match="no run or artifact with id 'nope'"):
        set_metadata("nope", {"operator": "ada"}, workspace=workspace)
    with pytest.raises(NotFoundError, match=f"no artifact with id '{run.id}'"):
        get_metadata(("artifact", run.id), workspace=workspace)
    with pytest.raises(ValidationError, match="is not \\('run', id\\) or \\('artifact', id\\)"):
        get_metadata(("model", run.id), workspace=workspace)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is not a run or artifact id"):
        get_metadata("x" * 401, workspace=workspace)
    with pytest.raises(NotFoundError, match="nor an artifact of that name"):
        get_metadata("x" * 37, workspace=workspace)


@pytest.mark.usefixtures("fields")
def test_unique_id_prefixes_are_enough(
    workspace: Workspace, run: ActiveRun, artifact: Artifact
) -> None:
    set_metadata(run.id[:13], {"operator": "ada"}, workspace=workspace)
    assert get_metadata(run.id, workspace=workspace) == {"operator": "ada"}
    assert get_metadata(("artifact", artifact.id[:30]), workspace=workspace) == {}
    shared = next(
        (run.id[:i] for i in range(len(run.id), 0, -1) if artifact.id.startswith(run.id[:i])), ""
    )
    if len(shared) >= 8:  # ids made in the same minute share their first 8 characters
        with pytest.raises(ValidationError, match="matches more than one run or artifact"):
            get_metadata(shared, workspace=workspace)
    with pytest.raises(NotFoundError, match="no run or artifact with id"):
        get_metadata(run.id[:3], workspace=workspace)
    with pytest.raises(NotFoundError):
        get_metadata(run.id[:8] + "%", workspace=workspace)


@pytest.mark.usefixtures("fields")
def test_all_or_nothing(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    set_metadata(run.id, {"concentration_um": 5, "cell_line": "HeLa"}, workspace=workspace)
    for bad in (
        {"concentration_um": 6, "operator": "ada", "cell_line": "nope"},
        {"concentration_um": 6, "unknown_field": 1},
        {"concentration_um": 6, "plate_barcode": "P-1"},
    ):
        with pytest.raises((ValidationError, NotFoundError)):
            set_metadata(run.id, bad, workspace=workspace)
    assert get_metadata(run.id, workspace=workspace) == {
        "cell_line": "HeLa",
        "concentration_um": 5.0,
    }
    assert len(ledger("metadata.set")) == 1


@pytest.mark.usefixtures("fields")
def test_each_set_is_one_ledger_entry(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    set_metadata(
        run.id, {"concentration_um": 5, "acquired": dt.date(2024, 5, 1)}, workspace=workspace
    )
    (entry,) = ledger("metadata.set")
    assert entry.subject == f"run:{run.id}"
    assert entry.payload == {
        "target_kind": "run",
        "target_id": run.id,
        "values": {"concentration_um": 5.0, "acquired": "2024-05-01"},
    }
    assert set_metadata(run.id, {}, workspace=workspace)["concentration_um"] == 5.0
    assert len(ledger("metadata.set")) == 1


@pytest.mark.usefixtures("fields")
def test_set_refreshes_the_search_document(workspace: Workspace, run: ActiveRun) -> None:
    set_metadata(run.id, {"concentration_um": 12.5, "cell_line": "HeLa"}, workspace=workspace)
    docs = schema.search_documents
    with workspace.read() as conn:
        row = conn.execute(sa.select(docs).where(docs.c.target_id == run.id)).one()
    assert row.title == "dose response"
    assert "cell_line HeLa" in row.body
    assert "concentration_um 12.5 uM" in row.body
    assert "compound staurosporine" in row.body
    assert "team assay" in row.body


@pytest.mark.parametrize(
    ("value", "seconds", "text"),
    [
        ("2024-05-01", 1714521600.0, "2024-05-01"),
        (dt.date(2024, 5, 1), 1714521600.0, "2024-05-01"),
        ("2024-05-01T12:00:00", 1714564800.0, "2024-05-01T12:00:00+00:00"),
        ("2024-05-01T14:00:00+02:00", 1714564800.0, "2024-05-01T12:00:00+00:00"),
        ("2024-05-01T12:00:00Z", 1714564800.0, "2024-05-01T12:00:00+00:00"),
        (dt.datetime(2024, 5, 1, 12), 1714564800.0, "2024-05-01T12:00:00+00:00"),
        (
            dt.datetime(2024, 5, 1, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            1714564800.0,
            "2024-05-01T12:00:00+00:00",
        ),
    ],
)
@pytest.mark.usefixtures("fields")
def test_dates_are_stored_as_utc_seconds_and_iso_text(
    workspace: Workspace, run: ActiveRun, value: Any, seconds: float, text: str
) -> None:
    assert set_metadata(run.id, {"acquired": value}, workspace=workspace) == {"acquired": text}
    assert _stored(workspace, "acquired") == (seconds, text)


@pytest.mark.usefixtures("fields")
def test_remove_metadata(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    set_metadata(run.id, {"operator": "ada", "cell_line": "U2OS"}, workspace=workspace)
    remove_metadata(run.id, "operator", workspace=workspace)
    assert get_metadata(run.id, workspace=workspace) == {"cell_line": "U2OS"}
    (entry,) = ledger("metadata.removed")
    assert entry.payload == {"target_kind": "run", "target_id": run.id, "field": "operator"}
    with pytest.raises(NotFoundError, match="has no value for metadata field 'operator'"):
        remove_metadata(run.id, "operator", workspace=workspace)
    with pytest.raises(NotFoundError, match="no metadata field named 'ph'"):
        remove_metadata(run.id, "ph", workspace=workspace)
    docs = schema.search_documents
    with workspace.read() as conn:
        body = conn.execute(sa.select(docs.c.body).where(docs.c.target_id == run.id)).scalar_one()
    assert "operator" not in body


@pytest.mark.usefixtures("fields")
def test_missing_required(workspace: Workspace, run: ActiveRun, artifact: Artifact) -> None:
    assert missing_required(run.id, workspace=workspace) == ["protocol"]
    assert missing_required(artifact.id, workspace=workspace) == ["plate_barcode", "protocol"]
    set_metadata(run.id, {"protocol": "v2"}, workspace=workspace)
    set_metadata(artifact.id, {"plate_barcode": "P-9"}, workspace=workspace)
    assert missing_required(run.id, workspace=workspace) == []
    assert missing_required(artifact.id, workspace=workspace) == ["protocol"]


def test_values_survive_the_run_ending(workspace: Workspace, run: ActiveRun) -> None:
    define_field("verdict", "text", workspace=workspace)
    run.end()
    set_metadata(run.id, {"verdict": "keep"}, workspace=workspace)
    assert get_metadata(run.id, workspace=workspace) == {"verdict": "keep"}


def test_current_workspace_is_the_default(workspace: Workspace, run: ActiveRun) -> None:
    from labledger.workspace.current import set_workspace

    set_workspace(workspace)
    define_field("verdict", "text")
    set_metadata(run.id, {"verdict": "keep"})
    assert get_metadata(run.id) == {"verdict": "keep"}
