"""Defining, reading and updating metadata fields."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest

import labledger.metadata
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.metadata import (
    UNSET,
    MetadataField,
    define_field,
    get_field,
    list_fields,
    set_metadata,
    update_field,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.tracking import ActiveRun, Artifact
    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.workspace import Workspace


def test_exported_names() -> None:
    assert sorted(labledger.metadata.__all__) == [
        "Collection",
        "CollectionMember",
        "MetadataField",
        "SearchHit",
        "UNSET",
        "add_to_collection",
        "create_collection",
        "define_field",
        "delete_collection",
        "get_collection",
        "get_field",
        "get_metadata",
        "index_run",
        "list_collections",
        "list_fields",
        "missing_required",
        "refresh_document",
        "reindex",
        "remove_from_collection",
        "remove_metadata",
        "search",
        "set_metadata",
        "update_field",
    ]
    for name in labledger.metadata.__all__:
        assert getattr(labledger.metadata, name) is not None


def test_define_each_type_and_read_back(workspace: Workspace) -> None:
    number = define_field(
        "concentration_um",
        "number",
        unit="uM",
        minimum=0,
        maximum=100,
        required=True,
        description="Final compound concentration",
        workspace=workspace,
    )
    define_field("operator", "text", applies_to="run", workspace=workspace)
    define_field("acquired", "date", workspace=workspace)
    define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)

    assert number.minimum == 0.0
    assert number.maximum == 100.0
    assert number.id
    assert number.created_at > 0
    assert [f.name for f in list_fields(workspace=workspace)] == [
        "acquired",
        "cell_line",
        "concentration_um",
        "operator",
    ]
    assert get_field("concentration_um", workspace=workspace) == number
    assert get_field("cell_line", workspace=workspace).choices == ("HeLa", "U2OS")
    assert get_field("operator", workspace=workspace).applies("artifact") is False
    assert number.bounds_text() == "0 to 100 uM"


def test_defining_a_field_writes_a_ledger_entry(
    workspace: Workspace, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    field = define_field("passage", "number", workspace=workspace)
    (entry,) = ledger("metadata.field_defined")
    assert entry.subject == f"field:{field.id}"
    assert entry.payload["name"] == "passage"
    assert entry.payload["type"] == "number"


def test_redefining_with_identical_settings_is_a_no_op(
    workspace: Workspace, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    first = define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)
    second = define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)
    assert first == second
    assert len(ledger("metadata.field_defined")) == 1


def test_redefining_with_other_settings_points_to_update_field(workspace: Workspace) -> None:
    define_field("concentration_um", "number", unit="uM", workspace=workspace)
    with pytest.raises(ValidationError) as error:
        define_field("concentration_um", "number", unit="nM", maximum=5, workspace=workspace)
    message = str(error.value)
    assert "already defined with other unit, maximum" in message
    assert "update_field()" in message
    with pytest.raises(ValidationError, match="other type"):
        define_field("concentration_um", "text", workspace=workspace)


@pytest.mark.parametrize("name", ["", "1abc", "_x", "a b", "x;drop table", "x" * 121, "é"])
def test_invalid_names_are_refused(workspace: Workspace, name: str) -> None:
    with pytest.raises(ValidationError, match=r"name .* is invalid") as error:
        define_field(name, "text", workspace=workspace)
    assert "start with a letter" in str(error.value)


def test_longest_valid_name(workspace: Workspace) -> None:
    assert define_field("a" + "b.-_9" * 23 + "c", "text", workspace=workspace).name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "float"}, "unknown type 'float' (use one of number, text, date, enum)"),
        ({"type": "enum"}, "enum field 'f' needs a list of choices"),
        ({"type": "enum", "choices": "HeLa"}, "needs a list of choices"),
        ({"type": "enum", "choices": []}, "needs at least one choice"),
        ({"type": "enum", "choices": ["a", "a"]}, "lists a choice twice"),
        ({"type": "enum", "choices": ["a", ""]}, "choice '' of field 'f' is invalid"),
        ({"type": "enum", "choices": ["a", 3]}, "choice 3 of field 'f' is invalid"),
        ({"type": "number", "choices": ["a"]}, "only enum fields take choices"),
        ({"type": "text", "unit": "mm"}, "only number fields take a unit or bounds"),
        ({"type": "date", "minimum": 0}, "only number fields take a unit or bounds"),
        ({"type": "number", "unit": ""}, "unit '' of field 'f' is invalid"),
        ({"type": "number", "unit": "u" * 41}, "is invalid (use 1-40 characters)"),
        (
            {"type": "number", "minimum": 5, "maximum": 1},
            "minimum 5 of field 'f' is above its maximum 1",
        ),
        ({"type": "number", "minimum": math.nan}, "minimum of field 'f' must be a finite number"),
        ({"type": "number", "maximum": True}, "maximum of field 'f' must be a finite number"),
        (
            {"type": "number", "applies_to": "model"},
            "cannot apply to 'model' (use one of run, artifact, both)",
        ),
        ({"type": "number", "required": "yes"}, "required of field 'f' must be True or False"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(
    workspace: Workspace, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        define_field("f", workspace=workspace, **kwargs)
    assert message in str(error.value)
    assert list_fields(workspace=workspace) == []


def test_unknown_field_says_how_to_define_it(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError) as error:
        get_field("ph", workspace=workspace)
    assert "no metadata field named 'ph'" in str(error.value)
    assert "define_field('ph', 'number')" in str(error.value)
    assert "labledger metadata define ph number" in str(error.value)
    with pytest.raises(NotFoundError, match="no metadata field named 'ph'"):
        update_field("ph", description="acidity", workspace=workspace)


def test_update_description_unit_and_required_keeps_values(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    define_field("temp", "number", unit="C", workspace=workspace)
    set_metadata(run.id, {"temp": 21.5}, workspace=workspace)
    updated = update_field(
        "temp", description="Room temperature", unit="degC", required=True, workspace=workspace
    )
    assert updated.description == "Room temperature"
    assert updated.unit == "degC"
    assert updated.required is True
    assert get_field("temp", workspace=workspace) == updated
    assert labledger.metadata.get_metadata(run.id, workspace=workspace) == {"temp": 21.5}
    (entry,) = ledger("metadata.field_updated")
    assert entry.payload["unit"] == "degC"


def test_update_with_nothing_changed_writes_nothing(
    workspace: Workspace, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    field = define_field("temp", "number", workspace=workspace)
    assert update_field("temp", unit=UNSET, workspace=workspace) == field
    assert ledger("metadata.field_updated") == []


def test_update_bounds_must_hold_stored_values(workspace: Workspace, run: ActiveRun) -> None:
    define_field("temp", "number", unit="C", minimum=-20, maximum=50, workspace=workspace)
    set_metadata(run.id, {"temp": 30}, workspace=workspace)
    with pytest.raises(ValidationError) as error:
        update_field("temp", maximum=25, workspace=workspace)
    assert "cannot set the bounds of field 'temp' to -20 to 25 C" in str(error.value)
    assert "1 stored value(s) lie outside" in str(error.value)
    assert get_field("temp", workspace=workspace).maximum == 50

    assert update_field("temp", maximum=40, workspace=workspace).maximum == 40
    widened = update_field("temp", minimum=None, maximum=None, workspace=workspace)
    assert (widened.minimum, widened.maximum) == (None, None)


def test_update_choices_must_keep_choices_in_use(workspace: Workspace, run: ActiveRun) -> None:
    define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)
    set_metadata(run.id, {"cell_line": "HeLa"}, workspace=workspace)
    with pytest.raises(ValidationError, match="1 stored value\\(s\\) use another choice"):
        update_field("cell_line", choices=["U2OS"], workspace=workspace)
    added = update_field("cell_line", choices=["HeLa", "U2OS", "A549"], workspace=workspace)
    assert added.choices == ("HeLa", "U2OS", "A549")
    assert update_field("cell_line", choices=["HeLa"], workspace=workspace).choices == ("HeLa",)


def test_update_applies_to_must_keep_kinds_in_use(
    workspace: Workspace, run: ActiveRun, artifact: Artifact
) -> None:
    define_field("operator", "text", workspace=workspace)
    set_metadata(artifact.id, {"operator": "ada"}, workspace=workspace)
    with pytest.raises(ValidationError, match="apply to run only: 1 stored value"):
        update_field("operator", applies_to="run", workspace=workspace)
    assert update_field("operator", applies_to="artifact", workspace=workspace).applies_to == (
        "artifact"
    )


def test_update_validates_the_new_settings(workspace: Workspace) -> None:
    define_field("label", "text", workspace=workspace)
    with pytest.raises(ValidationError, match="only number fields take a unit"):
        update_field("label", unit="mm", workspace=workspace)
    define_field("temp", "number", minimum=0, workspace=workspace)
    with pytest.raises(ValidationError, match="above its maximum"):
        update_field("temp", maximum=-1, workspace=workspace)


def test_metadata_field_is_frozen() -> None:
    field = MetadataField(name="x", type="text")
    with pytest.raises(AttributeError):
        field.name = "y"  # type: ignore[misc]
