"""Full-text and field search over runs and artifacts (SQLite FTS5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import FilterSyntaxError, NotFoundError, ValidationError
from labledger._foundation.query_syntax import And, Not, Or, TextTerm
from labledger.metadata import (
    define_field,
    index_run,
    reindex,
    search,
    set_metadata,
)
from labledger.metadata.conditions import FieldCondition, parse_conditions
from labledger.tracking import start_run
from labledger.workspace.sql.search import fts5_query

if TYPE_CHECKING:
    from labledger.tracking import ActiveRun, Artifact
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def screen(workspace: Workspace) -> dict[str, str]:
    """Three runs and an artifact with metadata; returns their ids by a short name."""
    define_field("concentration_um", "number", unit="uM", minimum=0, workspace=workspace)
    define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)
    define_field("acquired", "date", workspace=workspace)
    ids = {}
    for key, name, conc, line, day in [
        ("low", "viability screen low", 1, "HeLa", "2024-01-10"),
        ("high", "viability screen high", 50, "HeLa", "2024-03-01"),
        ("u2os", "imaging run", 20, "U2OS", "2024-02-15"),
    ]:
        active = start_run(name, params={"compound": "staurosporine"}, workspace=workspace)
        set_metadata(
            active.id,
            {"concentration_um": conc, "cell_line": line, "acquired": day},
            workspace=workspace,
        )
        if key == "high":
            artifact = active.log_artifact({"wells": 384}, name="plate-map")
            set_metadata(artifact.id, {"concentration_um": 50}, workspace=workspace)
            ids["plate"] = artifact.id
        active.end()
        ids[key] = active.id
    return ids


def _ids(hits: list[Any]) -> set[str]:
    return {hit.id for hit in hits}


def test_text_search_finds_names_params_and_metadata(
    workspace: Workspace, screen: dict[str, str]
) -> None:
    assert _ids(search("viability", workspace=workspace)) == {screen["low"], screen["high"]}
    assert _ids(search("staurosporine", workspace=workspace)) == {
        screen["low"],
        screen["high"],
        screen["u2os"],
    }
    assert _ids(search("u2os", workspace=workspace)) == {screen["u2os"]}
    assert _ids(search("plate", workspace=workspace)) == {screen["plate"]}


def test_every_word_must_match_and_stemming_applies(
    workspace: Workspace, screen: dict[str, str]
) -> None:
    assert _ids(search("viability high", workspace=workspace)) == {screen["high"]}
    assert _ids(search("screens", workspace=workspace)) == {screen["low"], screen["high"]}
    assert _ids(search('"screen low"', workspace=workspace)) == {screen["low"]}
    assert search('"low screen"', workspace=workspace) == []


def test_hits_carry_title_snippet_and_score(workspace: Workspace, screen: dict[str, str]) -> None:
    (hit,) = search("imaging", workspace=workspace)
    assert (hit.kind, hit.id, hit.title) == ("run", screen["u2os"], "imaging run")
    assert "[imaging]" in hit.snippet
    assert hit.score > 0


def test_a_snippet_shows_the_words_around_the_hit(workspace: Workspace, run: ActiveRun) -> None:
    define_field("wells_read", "number", workspace=workspace)
    set_metadata(run.id, {"wells_read": 96}, workspace=workspace)
    (hit,) = search("wells", workspace=workspace)
    # What the user searched about is shown with the word that found it.
    assert "96" in hit.snippet and "wells" in hit.snippet.lower(), hit.snippet


def test_title_matches_rank_above_body_matches(workspace: Workspace, run: ActiveRun) -> None:
    define_field("note", "text", workspace=workspace)
    other = start_run("calibration", workspace=workspace)
    set_metadata(
        other.id, {"note": "dose checked twice against the response curve"}, workspace=workspace
    )
    set_metadata(run.id, {"note": "fine"}, workspace=workspace)
    hits = search("dose", workspace=workspace)
    assert [h.id for h in hits] == [run.id, other.id]
    assert hits[0].score > hits[1].score
    other.end()


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"unterminated',
        "it's",
        "a AND OR NOT",
        "NEAR(a b)",
        "title:viability",
        "*",
        "viab*",
        "^viability",
        "(",
        ")",
        "-",
        "c++",
        "100%",
        "a;b",
        "'; drop table runs; --",
        "{title body}: x",
        "\\",
        "\x00",
        "0\x00viability",
        "é ü 漢字",
    ],
)
def test_user_text_never_breaks_the_query(
    workspace: Workspace, screen: dict[str, str], text: str
) -> None:
    assert isinstance(search(text, workspace=workspace), list)


def test_punctuation_around_words_still_matches(
    workspace: Workspace, screen: dict[str, str]
) -> None:
    assert _ids(search('viability: "high" (!)', workspace=workspace)) == {screen["high"]}
    assert _ids(search("plate-map", workspace=workspace)) == {screen["plate"]}
    assert search("'; drop table runs; --", workspace=workspace) == []


def test_text_of_punctuation_only_matches_nothing(
    workspace: Workspace, screen: dict[str, str]
) -> None:
    assert search("(*)", workspace=workspace) == []
    assert search("-- !", where={"cell_line": "HeLa"}, workspace=workspace) == []


def test_fts5_query_quotes_every_word() -> None:
    assert fts5_query("dose response") == '"dose" "response"'
    assert fts5_query('say "hello world"') == '"say" "hello world"'
    assert fts5_query('a"b') == '"a""b"'
    assert fts5_query("NEAR(x y)") == '"NEAR(x" "y)"'
    assert fts5_query("( - )") is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"concentration_um": (">", 10)}, {"high", "u2os", "plate"}),
        ({"concentration_um": (">=", 50)}, {"high", "plate"}),
        ({"concentration_um": 1}, {"low"}),
        ({"concentration_um": ("!=", 1)}, {"high", "u2os", "plate"}),
        ({"cell_line": "HeLa"}, {"low", "high"}),
        ({"cell_line": ["U2OS", "HeLa"]}, {"low", "high", "u2os"}),
        ({"cell_line": ("not in", ["HeLa"])}, {"u2os"}),
        ({"concentration_um": (">", 10), "cell_line": "HeLa"}, {"high"}),
        ({"acquired": ("<", "2024-02-01")}, {"low"}),
        ("concentration_um > 10 and cell_line = 'HeLa'", {"high"}),
        ('concentration_um > 10 and cell_line = "HeLa"', {"high"}),
        ("concentration_um>10 AND cell_line==HeLa", {"high"}),
        ("meta.concentration_um <= 20", {"low", "u2os"}),
        ("cell_line in (HeLa, 'U2OS') and concentration_um < 5", {"low"}),
        ("cell_line not in ('HeLa')", {"u2os"}),
        ("acquired >= 2024-02-01 and acquired < 2024-03-01T00:00:00+00:00", {"u2os"}),
        ("concentration_um = 1e0", {"low"}),
        ("  ", {"low", "high", "u2os", "plate"}),
    ],
)
def test_field_search(
    workspace: Workspace, screen: dict[str, str], where: Any, expected: set[str]
) -> None:
    assert _ids(search(where=where, workspace=workspace)) == {screen[k] for k in expected}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("cell_line = U2OS or concentration_um = 1", {"low", "u2os"}),
        ("not cell_line = HeLa", {"u2os", "plate"}),
        ("concentration_um > 10 and (cell_line = HeLa or cell_line = U2OS)", {"high", "u2os"}),
        ("cell_line is null", {"plate"}),
        ("cell_line is not null and cell_line ilike 'u2%'", {"u2os"}),
        ("viability and concentration_um > 10", {"high"}),
        ("imaging or cell_line = HeLa", {"low", "high", "u2os"}),
    ],
)
def test_where_speaks_the_run_filter_dialect(
    workspace: Workspace, screen: dict[str, str], where: str, expected: set[str]
) -> None:
    assert _ids(search(where=where, workspace=workspace)) == {screen[k] for k in expected}


def test_field_search_lists_newest_first_without_scores(
    workspace: Workspace, screen: dict[str, str]
) -> None:
    hits = search(where={"cell_line": "HeLa"}, workspace=workspace)
    assert [h.id for h in hits] == [screen["high"], screen["low"]]
    assert all(h.score == 0.0 and h.snippet == "" for h in hits)


def test_text_and_fields_together(workspace: Workspace, screen: dict[str, str]) -> None:
    found = search("viability", where="concentration_um > 10", workspace=workspace)
    assert _ids(found) == {screen["high"]}
    assert search("imaging", where={"cell_line": "HeLa"}, workspace=workspace) == []


def test_kinds_and_limit(workspace: Workspace, screen: dict[str, str]) -> None:
    where = {"concentration_um": (">=", 50)}
    assert _ids(search(where=where, kinds=["artifact"], workspace=workspace)) == {screen["plate"]}
    assert _ids(search(where=where, kinds="run", workspace=workspace)) == {screen["high"]}
    assert len(search("staurosporine", limit=2, workspace=workspace)) == 2
    with pytest.raises(ValidationError, match="cannot search kinds \\['model'\\]"):
        search("x", kinds=["model"], workspace=workspace)
    with pytest.raises(ValidationError, match="limit 0 is invalid"):
        search("x", limit=0, workspace=workspace)


@pytest.mark.parametrize(
    ("where", "error", "message"),
    [
        ({"ph": 7}, NotFoundError, "no metadata field named 'ph'"),
        ("ph > 7", NotFoundError, "define_field('ph', 'number')"),
        ("concentration_um >", FilterSyntaxError, "column 19: expected a value after '>'"),
        ("concentration_um 10", FilterSyntaxError, "expected an operator after 'concentration_um'"),
        ("a = 1 or b = 2", NotFoundError, "no metadata field named 'a'"),
        ("cell_line HeLa", FilterSyntaxError, "column 11: expected an operator after 'cell_line'"),
        ("meta.cell_line", FilterSyntaxError, "expected an operator after 'meta.cell_line'"),
        ("cell_line = HeLa or", FilterSyntaxError, "expected a field name or a word to find"),
        ("(cell_line = HeLa", FilterSyntaxError, "column 18: expected ')' or and/or"),
        ("concentration_um like '1%'", ValidationError, "like and ilike match text fields only"),
        ("a = 'open", FilterSyntaxError, "column 5: unterminated string"),
        ("(a = 1)", NotFoundError, "no metadata field named 'a'"),
        ("a in 1", FilterSyntaxError, "expected '(' after 'in'"),
        ("a in (1 2)", FilterSyntaxError, "expected ',' or ')'"),
        ({"cell_line": (">", "HeLa")}, ValidationError, "compares with = != in, not >"),
        ({"cell_line": "hela"}, ValidationError, "'hela' is not a choice of field 'cell_line'"),
        ({"concentration_um": "lots"}, ValidationError, "is a number (in uM), not str 'lots'"),
        ({"acquired": (">", "soon")}, ValidationError, "'soon' is not an ISO date"),
        ({"concentration_um": ("~", 1)}, ValidationError, "unknown operator '~'"),
        ({"concentration_um": (">",)}, ValidationError, "an (operator, value) pair"),
        ({"cell_line": ("in", [])}, ValidationError, "needs a non-empty list"),
    ],
)
def test_bad_conditions_say_what_is_wrong(
    workspace: Workspace, screen: dict[str, str], where: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        search(where=where, workspace=workspace)
    assert message in str(raised.value)


def test_parse_conditions() -> None:
    assert parse_conditions(None) is None
    assert parse_conditions({}) is None
    assert parse_conditions("x >= -1.5 and y < 2") == And(
        (FieldCondition("x", ">=", -1.5), FieldCondition("y", "<", 2))
    )
    assert parse_conditions(r"y = 'it\'s' and z != HeLa-S3") == And(
        (FieldCondition("y", "=", "it's"), FieldCondition("z", "!=", "HeLa-S3"))
    )
    assert parse_conditions("flag = true or not viability") == Or(
        (FieldCondition("flag", "=", "true"), Not(TextTerm("viability")))
    )


def test_runs_are_indexed_by_index_run(workspace: Workspace, run: ActiveRun) -> None:
    assert search("staurosporine", workspace=workspace) == []
    with workspace.write() as conn:
        index_run(conn, run.id)
    assert _ids(search("staurosporine", workspace=workspace)) == {run.id}
    assert _ids(search("assay", workspace=workspace)) == {run.id}


def test_reindex_rebuilds_every_document(
    workspace: Workspace, run: ActiveRun, artifact: Artifact
) -> None:
    assert reindex(workspace=workspace) == 2
    assert _ids(search("dose", workspace=workspace)) == {run.id}
    assert _ids(search("plate", workspace=workspace)) == {artifact.id}


def test_no_text_and_no_conditions_lists_everything(
    workspace: Workspace, screen: dict[str, str]
) -> None:
    assert len(search(workspace=workspace)) == 4
