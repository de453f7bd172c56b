"""Authoring: @step and @pipeline, lazy handles, the graph they build, and the errors on misuse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from labledger._foundation.errors import PipelineDefinitionError, ValidationError
from labledger.pipelines import Resources, pipeline, step
from labledger.pipelines.graph import Graph
from labledger.pipelines.resources import parse_memory
from tests.unit.pipelines import sample_pipelines as sp


def test_steps_run_as_plain_functions_outside_a_pipeline() -> None:
    assert sp.total([1, 2, 3]) == 6
    assert sp.scaled(2, factor=5) == 20
    assert sp.split([1, 2, 3, 4]) == ([1, 2], [3, 4])


def test_tracing_builds_a_graph_with_unique_node_names() -> None:
    graph = sp.arithmetic.trace()
    assert [n.key for n in graph.nodes] == [
        "numbers",
        "split",
        "total",
        "scaled",
        "total_2",
        "total_3",
        "combine",
    ]
    combine = graph["combine"]
    assert {h.node.key for h in combine.inputs.values()} == {"total_2", "total_3"}
    assert graph["scaled"].params == {"factor": 3}
    assert graph["numbers"].params == {"n": 5}


def test_multiple_outputs_unpack_and_read_by_name() -> None:
    @pipeline
    def by_name() -> None:
        parts = sp.split(sp.numbers(4))
        sp.total(parts.high)

    graph = by_name.trace()
    assert graph["total"].inputs["values"].output == "high"


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (bool, "cannot test"),
        (list, "cannot iterate"),
        (lambda h: h[0], "cannot index"),
        (lambda h: h.columns, "cannot read attribute 'columns'"),
    ],
)
def test_using_a_handle_as_a_value_is_a_clear_error(use, message) -> None:
    @pipeline
    def misuse() -> None:
        use(sp.numbers(3))

    with pytest.raises(PipelineDefinitionError, match=message):
        misuse.trace()


def test_missing_and_unknown_step_arguments_are_reported() -> None:
    @pipeline
    def missing() -> None:
        sp.scaled()

    with pytest.raises(PipelineDefinitionError, match=r"cannot call step 'scaled'.*value"):
        missing.trace()

    @pipeline
    def unknown() -> None:
        sp.scaled(1, nope=2)

    with pytest.raises(PipelineDefinitionError, match="nope"):
        unknown.trace()


def test_a_handle_used_outside_its_pipeline_is_refused() -> None:
    leaked = []

    @pipeline
    def leak() -> None:
        leaked.append(sp.numbers(3))

    leak.trace()
    with pytest.raises(PipelineDefinitionError, match="outside a pipeline"):
        sp.total(leaked[0])

    @pipeline
    def reuse() -> None:
        sp.total(leaked[0])

    with pytest.raises(PipelineDefinitionError, match="another pipeline"):
        reuse.trace()


def test_literal_arguments_must_be_json_able() -> None:
    @pipeline
    def odd() -> None:
        sp.scaled(object())

    with pytest.raises(PipelineDefinitionError, match="must be JSON-able"):
        odd.trace()

    @pipeline
    def mixed() -> None:
        sp.combine([sp.total(sp.numbers(2)), 5])

    with pytest.raises(PipelineDefinitionError, match="mixes step outputs and literal"):
        mixed.trace()


def test_paths_become_strings() -> None:
    @pipeline
    def with_path() -> None:
        sp.scaled(Path("/data/x"))

    assert with_path.trace()["scaled"].params["value"] == "/data/x"


def test_a_cycle_is_detected() -> None:
    graph = Graph()
    first = graph.add(sp.total, {"values": [1]})
    second = graph.add(sp.total, {"values": first.handles[0]})
    first.inputs["values"] = second.handles[0]
    with pytest.raises(PipelineDefinitionError, match="cycle through steps total, total_2"):
        graph.topological_order()


def test_a_pipeline_without_steps_is_an_error() -> None:
    @pipeline
    def empty() -> None:
        return None

    with pytest.raises(PipelineDefinitionError, match="calls no steps"):
        empty.trace()


def test_pipeline_parameters_are_type_checked_with_defaults() -> None:
    assert sp.arithmetic.bind_params({}) == {"n": 5, "factor": 3}
    assert sp.arithmetic.bind_params({"n": 7}) == {"n": 7, "factor": 3}
    with pytest.raises(ValidationError, match=r"n='many' is not a valid int"):
        sp.arithmetic.bind_params({"n": "many"})
    with pytest.raises(ValidationError, match="has no parameter 'bogus'"):
        sp.arithmetic.bind_params({"bogus": 1})
    with pytest.raises(ValidationError, match="needs parameter 'marker'"):
        sp.retrying.bind_params({})


def test_parameters_from_the_command_line_are_parsed_by_type() -> None:
    @pipeline
    def typed(n: int = 1, names: list[str] | None = None, label: str = "x") -> None:
        sp.total([n])

    assert typed.parse_params({"n": "4", "names": '["a", "b"]', "label": "123"}) == {
        "n": 4,
        "names": ["a", "b"],
        "label": "123",
    }
    with pytest.raises(ValidationError, match="n="):
        typed.parse_params({"n": "four"})


def test_reserved_and_variadic_pipeline_parameters_are_refused() -> None:
    with pytest.raises(PipelineDefinitionError, match="clashes with an option of run"):

        @pipeline
        def clash(seed: int = 0) -> None: ...

    with pytest.raises(PipelineDefinitionError, match="ordinary named parameter"):

        @pipeline
        def variadic(*args: int) -> None: ...


def test_step_options_are_validated() -> None:
    with pytest.raises(PipelineDefinitionError, match="retries"):
        step(retries=-1)(sp.double)
    with pytest.raises(PipelineDefinitionError, match="outputs"):
        step(outputs=("a", "a"))(sp.double)
    with pytest.raises(PipelineDefinitionError, match="cache_expiry"):
        step(cache_expiry=0)(sp.double)
    made = step(cache_expiry=dt.timedelta(hours=1), resources=Resources(cpus=2, memory="1GiB"))(
        sp.double
    )
    assert made.cache_expiry == 3600
    assert made.options["resources"] == {"CPU": 2.0, "MEMORY": float(2**30)}


def test_memory_sizes_parse() -> None:
    assert parse_memory("512MB") == 512 * 10**6
    assert parse_memory("4GiB") == 4 * 2**30
    assert parse_memory(1024) == 1024
    with pytest.raises(ValidationError, match="not a size"):
        parse_memory("lots")
    with pytest.raises(ValidationError, match="cpus"):
        Resources(cpus=0)
