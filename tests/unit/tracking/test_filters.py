"""The run filter language: parsing, error messages, and what the SQL store's compiled filters
select in SQLite."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from labledger._foundation.errors import FilterSyntaxError, ValidationError
from labledger.tracking import filters
from labledger.tracking.filters import (
    And,
    Comparison,
    Not,
    Or,
    Text,
    check_filter,
    parse_filter,
    parse_order_by,
)
from labledger.workspace import schema
from labledger.workspace.sql import run_filters

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace


def compile_filter(expression: Any) -> sa.ColumnElement[bool] | None:
    """The SQL store's condition for a filter the service has checked."""
    return run_filters.compile_filter(check_filter(expression))


# --- parsing -------------------------------------------------------------------------------------


def test_exported_names() -> None:
    assert sorted(filters.__all__) == [
        "And",
        "Comparison",
        "Node",
        "Not",
        "Or",
        "Text",
        "check_filter",
        "parse_filter",
        "parse_order_by",
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_filter_matches_everything(text: str) -> None:
    assert parse_filter(text) is None
    assert compile_filter(text) is None
    assert compile_filter(None) is None


def test_example_filter() -> None:
    node = parse_filter("metrics.auc > 0.8 and params.model = \"gbm\" and tags.team = 'assay'")
    assert node == And(
        (
            Comparison("metrics", "auc", ">", 0.8),
            Comparison("params", "model", "=", "gbm"),
            Comparison("tags", "team", "=", "assay"),
        )
    )


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    a = Comparison("metrics", "a", "=", 1)
    b = Comparison("metrics", "b", "=", 2)
    c = Comparison("metrics", "c", "=", 3)
    text = "metrics.a = 1 or not metrics.b = 2 and metrics.c = 3"
    assert parse_filter(text) == Or((a, And((Not(b), c))))
    assert parse_filter("(metrics.a = 1 or metrics.b = 2) and metrics.c = 3") == And(
        (Or((a, b)), c)
    )
    assert parse_filter("not not metrics.a = 1") == Not(Not(a))


def test_keywords_are_case_insensitive_keys_are_not() -> None:
    node = parse_filter("Params.LR >= 1 AND NOT tags.X IS NOT NULL OR Run.Status In ('a')")
    assert node == Or(
        (
            And(
                (
                    Comparison("params", "LR", ">=", 1),
                    Not(Comparison("tags", "X", "is not null", None)),
                )
            ),
            Comparison("attributes", "status", "in", ("a",)),
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.x = 3", 3),
        ("metrics.x = -3", -3),
        ("metrics.x = 2.5", 2.5),
        ("metrics.x = .5", 0.5),
        ("metrics.x = 1e-3", 0.001),
        ("metrics.x = -2.5E+2", -250.0),
    ],
)
def test_numbers(text: str, expected: float) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.value == expected
    assert type(node.value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"tags.x = 'it\'s'", "it's"),
        (r'tags.x = "say \"hi\""', 'say "hi"'),
        (r"tags.x = 'a\\b'", "a\\b"),
        (r"tags.x = 'tab\there'", "tab\there"),
        (r"tags.x like '100\%'", "100\\%"),
        ("tags.x = ''", ""),
        ("tags.x = true", True),
        ("tags.x != FALSE", False),
    ],
)
def test_string_and_boolean_values(text: str, expected: object) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.value == expected


@pytest.mark.parametrize(
    ("text", "target", "key"),
    [
        ("metrics.train/loss < 1", "metrics", "train/loss"),
        ("metrics.val.loss-x_2 < 1", "metrics", "val.loss-x_2"),
        ("metrics.`val loss` < 1", "metrics", "val loss"),
        ('params."learning rate" = 1', "params", "learning rate"),
        ("meta.Sample_Site = 'x'", "meta", "Sample_Site"),
        ("attributes.started_at > 1", "attributes", "started_at"),
        ("run.user = 'ana'", "attributes", "user"),
        ("git_commit = 'abc'", "attributes", "git_commit"),
    ],
)
def test_identifiers(text: str, target: str, key: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.target, node.key) == (target, key)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("tags.t in ('a', \"b\")", "in", ("a", "b")),
        ("tags.t not in ('a')", "not in", ("a",)),
        ("params.p in (1, 2.5)", "in", (1, 2.5)),
        ("tags.t like 'a%'", "like", "a%"),
        ("tags.t not like 'a%'", "not like", "a%"),
        ("tags.t ilike 'A%'", "ilike", "A%"),
        ("tags.t not ilike 'A%'", "not ilike", "A%"),
        ("tags.t is null", "is null", None),
        ("tags.t is not null", "is not null", None),
        ("metrics.m == 1", "=", 1),
        ("metrics.m != 1", "!=", 1),
        ("metrics.m<=1", "<=", 1),
    ],
)
def test_operators(text: str, op: str, value: object) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.op, node.value) == (op, value)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("metrics.auc > ", 15, "expected a value after '>'"),
        ("metrics.auc > 0.8 and params.lr >", 34, "expected a value after '>'"),
        ("metrics.auc 0.8", 13, "expected an operator"),
        ("metrics.auc > 0.8 params.x = 1", 19, "expected and, or or the end"),
        ("(metrics.auc > 0.8", 19, "expected ')'"),
        ("metrics.auc > 0.8)", 18, "expected and, or or the end"),
        ('metrics.auc > "high"', 15, "compares numerically"),
        ("metrics.auc like '0.%'", 18, "compares numerically"),
        ("started_at > '2024-01-01'", 14, "compares numerically"),
        ("tags.x = null", 10, "null is not a value"),
        ("tags.x = and", 10, "expected a value after '='"),
        ("tags.x is 'a'", 11, "expected null after 'is'"),
        ("tags.x not = 'a'", 12, "expected in, like or ilike after 'not'"),
        ("tags.x in 'a'", 11, "expected '(' after 'in'"),
        ("tags.x in ()", 12, "expected a value after '('"),
        ("tags.x in ('a' 'b')", 16, "expected ',' or ')'"),
        ("tags.x in ('a', 1)", 12, "mixes numbers and text"),
        ("tags.x < 5", 10, "compares as text"),
        ("tags.x > true", 10, "true and false only compare with = or !="),
        ("params.x like 5", 15, "needs a quoted pattern"),
        ("tags.x = 'open", 10, "unterminated string"),
        ("metrics.`a > 1", 9, "unterminated quoted key"),
        ("metrics.a > 1 & tags.b = 'x'", 15, "unexpected character '&'"),
        ("metrics. > 1", 10, "expected a key after 'metrics.'"),
        ("metrics.'a' > 1", 9, "expected a key after 'metrics.'"),
        ("metrics.`` > 1", 9, "the quoted key is empty"),
        ("foo.bar = 1", 1, "unknown prefix 'foo.'"),
        ("and = 1", 1, "expected a name such as metrics.auc"),
        ("metrics.a > 1 and", 18, "expected a name such as metrics.auc"),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, column: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    message = str(caught.value)
    assert f"at column {column}: " in message
    assert fragment in message
    assert caught.value.hint  # the message ends with what to write instead
    assert message.endswith(f"({caught.value.hint})")


def test_generic_hint_names_the_valid_forms() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("metrics.auc > ")
    assert 'metrics.auc > 0.8 and params.model = "gbm"' in str(caught.value)


def test_unknown_attribute_lists_the_valid_ones() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("auc > 0.8")
    message = str(caught.value)
    assert "unknown run attribute 'auc'" in message
    for name in ("id", "name", "status", "user", "host", "started_at", "project_id"):
        assert name in message
    assert "metrics.auc" in message
    with pytest.raises(FilterSyntaxError, match="unknown run attribute 'colour'"):
        parse_filter("run.colour = 'red'")


def test_deep_nesting_is_refused_not_a_crash() -> None:
    assert parse_filter("(" * 50 + "tags.x = 'a'" + ")" * 50) == Comparison("tags", "x", "=", "a")
    with pytest.raises(FilterSyntaxError, match="nests deeper than 100 levels"):
        parse_filter("(" * 5000 + "tags.x = 'a'" + ")" * 5000)
    with pytest.raises(FilterSyntaxError, match="nests deeper"):
        parse_filter("not " * 5000 + "tags.x = 'a'")


def test_filter_errors_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        parse_filter("metrics.auc >")


def test_hand_built_trees_are_checked_too() -> None:
    with pytest.raises(FilterSyntaxError, match="compares numerically") as caught:
        compile_filter(Comparison("metrics", "auc", ">", "high"))
    assert "`metrics.auc > 'high'`" in str(caught.value)
    with pytest.raises(FilterSyntaxError, match="unknown run attribute"):
        compile_filter(Comparison("attributes", "colour", "=", "red"))
    with pytest.raises(FilterSyntaxError, match="needs a list"):
        compile_filter(Comparison("tags", "t", "in", "a"))


# --- compiling against SQLite --------------------------------------------------------------------

NAN = float("nan")
RUNS: dict[str, dict[str, Any]] = {
    "r1": {
        "attributes": {
            "name": "baseline",
            "status": "finished",
            "user": "ana",
            "started_at": 100.0,
        },
        "params": {"model": "gbm", "lr": "0.1", "depth": "3", "flag": "True"},
        "metrics": {"auc": 0.91, "loss": 0.2},
        "tags": {"team": "assay", "stage": "dev"},
        "meta": {"site": "Basel", "temperature": 21.5},
    },
    "r2": {
        "attributes": {"name": "wide-net", "status": "failed", "user": "ben", "started_at": 200.0},
        "params": {"model": "mlp", "lr": "0.01", "depth": "deep", "flag": "false"},
        "metrics": {"auc": 0.75, "loss": NAN},
        "tags": {"team": "core"},
        "meta": {"site": "Zurich", "temperature": 4.0},
    },
    "r3": {
        "attributes": {
            "name": "Baseline-2",
            "status": "finished",
            "user": "ana",
            "started_at": 300.0,
        },
        "params": {"model": "GBM", "lr": "1e-3"},
        "metrics": {"auc": NAN},
        "tags": {"team": "x' or 1=1 --"},
        "meta": {},
    },
    "r4": {
        "attributes": {"name": "empty", "status": "running", "user": "cy", "started_at": 400.0},
        "params": {},
        "metrics": {},
        "tags": {},
        "meta": {},
    },
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _insert_runs(engine: sa.Engine, data: dict[str, dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(schema.projects).values(id="p1", name="demo", description="", created_at=0.0)
        )
        fields = {"site": "text", "temperature": "number"}
        for name, kind in fields.items():
            connection.execute(
                sa.insert(schema.metadata_fields).values(
                    id=f"f-{name}", name=name, type=kind, created_at=0.0
                )
            )
        for run_id, run in data.items():
            attributes = {
                "name": run_id,
                "status": "finished",
                "user": "ana",
                "host": "lab-1",
                "kind": "run",
                "started_at": 0.0,
                **run.get("attributes", {}),
            }
            connection.execute(
                sa.insert(schema.runs).values(
                    id=run_id, project_id="p1", pid=1, heartbeat_at=0.0, **attributes
                )
            )
            for key, value in run.get("params", {}).items():
                connection.execute(
                    sa.insert(schema.params).values(
                        run_id=run_id, key=key, value=value, value_num=_number(value)
                    )
                )
            for key, value in run.get("metrics", {}).items():
                stored = None if math.isnan(value) else value
                connection.execute(
                    sa.insert(schema.latest_metrics).values(
                        run_id=run_id, key=key, value=stored, step=0, timestamp=0.0, seq=1
                    )
                )
            for key, value in run.get("tags", {}).items():
                connection.execute(
                    sa.insert(schema.tags).values(run_id=run_id, key=key, value=value)
                )
            for key, value in run.get("meta", {}).items():
                numeric = isinstance(value, float)
                connection.execute(
                    sa.insert(schema.metadata_values).values(
                        field_id=f"f-{key}",
                        target_kind="run",
                        target_id=run_id,
                        value_num=value if numeric else None,
                        value_text=None if numeric else value,
                        updated_at=0.0,
                    )
                )
        # A metadata value on an artifact with the same id must not leak into run filters.
        connection.execute(
            sa.insert(schema.metadata_values).values(
                field_id="f-site", target_kind="artifact", target_id="r4", value_text="Basel",
                updated_at=0.0,
            )
        )  # fmt: skip


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    schema.metadata.create_all(engine)
    _insert_runs(engine, RUNS)
    yield engine
    engine.dispose()


def _ids(engine: sa.Engine, text: str) -> set[str]:
    query = sa.select(schema.runs.c.id)
    condition = compile_filter(text)
    if condition is not None:
        query = query.where(condition)
    with engine.connect() as connection:
        return set(connection.scalars(query))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {"r1", "r2", "r3", "r4"}),
        # metrics compare numerically; NaN (stored NULL) never matches
        ("metrics.auc > 0.8", {"r1"}),
        ("metrics.auc <= 0.8", {"r2"}),
        ("metrics.auc != 0.91", {"r2"}),
        ("metrics.auc >= 0", {"r1", "r2"}),
        ("metrics.loss < 1", {"r1"}),
        ("metrics.auc in (0.75, 0.91)", {"r1", "r2"}),
        ("metrics.auc not in (0.75)", {"r1"}),
        ("metrics.auc is null", {"r4"}),
        ("metrics.auc is not null", {"r1", "r2", "r3"}),
        ("not metrics.auc > 0.8", {"r2", "r3", "r4"}),
        # params: a number compares value_num, a string compares the text
        ("params.lr < 0.05", {"r2", "r3"}),
        ("params.lr = 0.001", {"r3"}),
        ("params.lr = '0.001'", set()),
        ("params.lr = '1e-3'", {"r3"}),
        ("params.depth > 1", {"r1"}),
        ("params.depth = 'deep'", {"r2"}),
        ("params.model = 'gbm'", {"r1"}),
        ("params.model ilike 'gbm'", {"r1", "r3"}),
        ("params.model in ('gbm', 'mlp')", {"r1", "r2"}),
        ("params.model not in ('gbm')", {"r2", "r3"}),
        ("params.depth is null", {"r3", "r4"}),
        ("params.flag = true", {"r1"}),
        ("params.flag != true", {"r2"}),
        # tags and text attributes
        ("tags.team = 'assay'", {"r1"}),
        ("tags.team != 'assay'", {"r2", "r3"}),
        ("tags.team like 'co%'", {"r2"}),
        ("tags.team not like 'co%'", {"r1", "r3"}),
        ("tags.stage is not null", {"r1"}),
        ("not tags.stage is not null", {"r2", "r3", "r4"}),
        ("status = 'finished'", {"r1", "r3"}),
        ("run.user in ('ana', 'cy')", {"r1", "r3", "r4"}),
        ("attributes.name like 'wide%' or name = 'empty'", {"r2", "r4"}),
        ("name ilike 'baseline%'", {"r1", "r3"}),
        ("started_at >= 200 and started_at < 400", {"r2", "r3"}),
        ("ended_at is null", {"r1", "r2", "r3", "r4"}),
        ("git_commit is not null", set()),
        ("id = 'r2'", {"r2"}),
        # custom metadata on runs
        ("meta.site = 'Basel'", {"r1"}),
        ("meta.temperature > 10", {"r1"}),
        ("meta.temperature < 10 or meta.site = 'Basel'", {"r1", "r2"}),
        ("meta.site is null", {"r3", "r4"}),
        ("meta.unknown is null", {"r1", "r2", "r3", "r4"}),
        # booleans and grouping
        ("(metrics.auc > 0.8 or tags.team = 'core') and status = 'finished'", {"r1"}),
        ("metrics.auc > 0.8 or tags.team = 'core' and status = 'finished'", {"r1"}),
        ("not (params.model = 'gbm' or params.model = 'mlp')", {"r3", "r4"}),
    ],
)
def test_filters_select_the_expected_runs(engine: sa.Engine, text: str, expected: set[str]) -> None:
    assert _ids(engine, text) == expected


def test_like_escape_matches_a_literal_percent(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(schema.tags).values(run_id="r4", key="note", value="100%"))
        connection.execute(sa.insert(schema.tags).values(run_id="r1", key="note", value="1000"))
    assert _ids(engine, r"tags.note like '100\%'") == {"r4"}
    assert _ids(engine, "tags.note like '100%'") == {"r1", "r4"}


def test_injection_attempt_is_plain_data(engine: sa.Engine) -> None:
    assert _ids(engine, 'tags.team = "x\' or 1=1 --"') == {"r3"}
    assert _ids(engine, r"tags.team = 'x\' or 1=1 --'") == {"r3"}
    assert _ids(engine, 'tags.team != "x\' or 1=1 --"') == {"r1", "r2"}
    assert _ids(engine, "metrics.`auc' or 1=1 --` > 0") == set()
    assert _ids(engine, 'params."model = 1; drop table runs; --" is null') == set(RUNS)
    condition = compile_filter('tags.team = "x\' or 1=1 --"')
    assert condition is not None
    sql = str(sa.select(schema.runs.c.id).where(condition).compile(dialect=engine.dialect))
    assert "1=1" not in sql


def test_every_value_and_key_is_a_bound_parameter() -> None:
    condition = compile_filter("params.model = 'zzz-value' and tags.`zzz key` like 'zzz%'")
    assert condition is not None
    compiled = sa.select(schema.runs.c.id).where(condition).compile()
    assert "zzz" not in str(compiled)
    assert {"zzz-value", "zzz key", "zzz%"} <= set(compiled.params.values())


def test_exists_subqueries_are_correlated_to_runs() -> None:
    condition = compile_filter("metrics.auc > 0.8 and meta.site is null")
    assert condition is not None
    sql = str(sa.select(schema.runs.c.id).where(condition))
    assert sql.count("EXISTS") == 2
    assert "NOT (EXISTS" in sql
    assert re.search(r"FROM latest_metrics\s+WHERE latest_metrics.run_id = runs.id", sql)


def _ordered(engine: sa.Engine, *items: str) -> list[str]:
    order = [
        (column.desc() if descending else column.asc()).nulls_last()
        for column, descending in run_filters.sort_columns(parse_order_by(items))
    ]
    query = sa.select(schema.runs.c.id).order_by(*order, schema.runs.c.id)
    with engine.connect() as connection:
        return list(connection.scalars(query))


def test_order_by(engine: sa.Engine) -> None:
    # Missing and NaN metrics sort last in both directions.
    assert _ordered(engine, "metrics.auc desc") == ["r1", "r2", "r3", "r4"]
    assert _ordered(engine, "metrics.auc") == ["r2", "r1", "r3", "r4"]
    # Params sort by number, then by text for values that are not numbers.
    assert _ordered(engine, "params.lr asc") == ["r3", "r2", "r1", "r4"]
    assert _ordered(engine, "params.depth DESC") == ["r1", "r2", "r3", "r4"]
    assert _ordered(engine, "started_at desc") == ["r4", "r3", "r2", "r1"]
    assert _ordered(engine, "run.user desc", "attributes.started_at") == ["r4", "r2", "r1", "r3"]
    assert _ordered(engine, "tags.team") == ["r1", "r2", "r3", "r4"]
    assert _ordered(engine, "meta.temperature desc") == ["r1", "r2", "r3", "r4"]
    assert _ordered(engine, "meta.site desc") == ["r2", "r1", "r3", "r4"]
    assert parse_order_by([]) == ()


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("", "expected a name such as metrics.auc"),
        ("metrics.auc sideways", "expected asc, desc or the end"),
        ("auc desc", "unknown run attribute 'auc'"),
        ("metrics.auc desc, params.lr", "found ','"),
    ],
)
def test_order_by_errors(item: str, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError, match=re.escape(fragment)) as caught:
        parse_order_by([item])
    assert str(caught.value).startswith(f"Invalid sort key {item!r} at column ")
    assert "metrics.auc" in str(caught.value)


# --- property ------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.none() | st.floats(allow_nan=True) | st.integers(-5, 5), max_size=8),
    threshold=finite | st.integers(-5, 5),
    op=st.sampled_from([">", ">=", "<", "<=", "=", "!="]),
)
def test_metric_comparison_matches_python(
    values: list[float | None], threshold: float, op: str
) -> None:
    """A metric comparison returns exactly the runs whose value compares true in Python."""
    data = {
        f"r{index}": {"metrics": {} if value is None else {"m": float(value)}}
        for index, value in enumerate(values)
    }
    engine = sa.create_engine("sqlite://")
    try:
        schema.metadata.create_all(engine)
        _insert_runs(engine, data)
        python_ops = {
            ">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__,
            "=": float.__eq__, "!=": float.__ne__,
        }  # fmt: skip
        expected = {
            run_id
            for run_id, value in zip(data, values, strict=True)
            if value is not None
            and not math.isnan(value)
            and python_ops[op](float(value), float(threshold))
        }
        assert _ids(engine, f"metrics.m {op} {threshold!r}") == expected
    finally:
        engine.dispose()


# --- text terms: the query dialect shared with metadata search ------------------------------------


def test_bare_words_and_phrases_are_text_terms_and_bare_values_are_text() -> None:
    assert parse_filter("gbm") == Text("gbm")
    assert parse_filter('"dose response" or not gbm-v2') == Or(
        (Text("dose response"), Not(Text("gbm-v2")))
    )
    assert parse_filter("tags.team = assay") == Comparison("tags", "team", "=", "assay")
    assert parse_filter("status in (finished, failed)") == Comparison(
        "attributes", "status", "in", ("finished", "failed")
    )


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("gbm screen", 5, "expected an operator after 'gbm', found 'screen'"),
        ("status", 7, "expected an operator after 'status', found the end"),
        ("tags.team and gbm", 11, "expected an operator after 'tags.team'"),
        ("'' or gbm", 1, "a text term needs a letter or digit"),
        ("metrics.auc > high", 15, "metrics.auc compares numerically"),
    ],
)
def test_text_term_mistakes_point_at_the_problem(text: str, column: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    assert f"at column {column}: {fragment}" in str(caught.value)


def test_text_terms_match_the_search_document_of_ended_runs(workspace: Workspace) -> None:
    from labledger.tracking.query import search_runs
    from labledger.tracking.run import start_run

    with start_run("gbm-baseline", params={"model": "gbm"}, workspace=workspace) as gbm:
        gbm.log_metric("auc", 0.9)
    with start_run(
        "rf", params={"model": "random forest"}, tags={"team": "core"}, workspace=workspace
    ) as rf:
        rf.log_metric("auc", 0.95)
    with start_run("open", params={"model": "gbm"}, workspace=workspace) as running:

        def names(text: str) -> set[str]:
            return {r.name for r in search_runs(text, workspace=workspace)}

        assert names("gbm") == {"gbm-baseline"}  # a running run has no search document yet
        assert names('"random forest"') == {"rf"}
        assert names("gbm or core") == {"gbm-baseline", "rf"}
        assert names("not gbm and metrics.auc > 0.5") == {"rf"}
        assert names("(forest or baseline) and status = finished") == {"gbm-baseline", "rf"}
        assert names('"forest random"') == set()
    assert running.status == "finished"
