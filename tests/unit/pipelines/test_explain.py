"""``status``: which steps would come from the cache, and why each other step would run."""

from __future__ import annotations

import importlib
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from labledger.pipelines import status
from tests.unit.pipelines import file_pipelines as fp
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

    from labledger.workspace.workspace import Workspace

_FLOW = """
from labledger import pipeline, step


def scale(value):
    return value * {factor}


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step
def total(values: list[int]) -> int:
    return scale(sum(values))


@pipeline
def flow(n: int = 4) -> None:
    total(load(n))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "proj"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("explained_flow", None)


def _module(project: Path, factor: int) -> ModuleType:
    (project / "explained_flow.py").write_text(textwrap.dedent(_FLOW.format(factor=factor)))
    importlib.invalidate_caches()
    if "explained_flow" in sys.modules:
        return importlib.reload(sys.modules["explained_flow"])
    return importlib.import_module("explained_flow")


def _reasons(found: object, node: str) -> list[str]:
    step = next(s for s in found.steps if s.node == node)  # type: ignore[attr-defined]
    return [r.message for r in step.reasons]


def test_a_pipeline_never_run_says_every_step_is_new(workspace: Workspace) -> None:
    found = status(sp.arithmetic, workspace=workspace)
    assert not found.up_to_date
    first = found.steps[0]
    assert first.state == "run"
    assert [r.kind for r in first.reasons] == ["new"]


def test_after_a_run_everything_is_cached_and_nothing_runs(workspace: Workspace) -> None:
    result = sp.arithmetic.run(workspace=workspace)
    found = status(sp.arithmetic, workspace=workspace)
    assert found.up_to_date
    assert [s.node for s in found.steps] == list(result.tasks)
    again = sp.arithmetic.run(workspace=workspace)
    assert again.executed == []


def test_a_param_change_is_named_with_old_and_new_values(workspace: Workspace) -> None:
    sp.arithmetic.run(workspace=workspace)
    found = status(sp.arithmetic, {"factor": 4}, workspace=workspace)
    assert [s.node for s in found.steps if s.state == "run"] == ["scaled"]
    assert _reasons(found, "scaled") == ["param factor: 3 -> 4"]


def test_a_changed_input_file_is_named(workspace: Workspace, project: Path) -> None:
    (project / "assay.csv").write_text("1")
    fp.by_string.run(workspace=workspace)
    (project / "assay.csv").write_text("2")
    found = status(fp.by_string, workspace=workspace)
    assert _reasons(found, "read_text") == ["file assay.csv changed"]
    assert _reasons(found, "shout") == ["reads the output of read_text, which will run"]
    assert found.as_dict()["steps"][0]["reasons"][0]["detail"]["path"] == "assay.csv"


def test_a_changed_helper_function_is_named(workspace: Workspace, project: Path) -> None:
    module = _module(project, factor=2)
    module.flow.run(workspace=workspace)
    module = _module(project, factor=3)
    found = status(module.flow, workspace=workspace)
    assert found.steps[0].state == "cached"
    assert _reasons(found, "total") == ["code: explained_flow:scale changed"]


def test_a_changed_seed_is_named(workspace: Workspace) -> None:
    sp.random_draw.run(workspace=workspace, seed=1)
    found = status(sp.random_draw, seed=2, workspace=workspace)
    assert any(r.kind == "seed" for s in found.steps for r in s.reasons)


def test_outputs_gone_from_the_store_are_the_reason_when_nothing_else_changed(
    workspace: Workspace,
) -> None:
    result = sp.arithmetic.run(workspace=workspace)
    workspace.store.delete(result.tasks["numbers"].digests["out"])
    found = status(sp.arithmetic, workspace=workspace)
    assert [r.kind for r in next(s for s in found.steps if s.node == "numbers").reasons] == [
        "outputs"
    ]


def test_an_uncached_step_says_so(workspace: Workspace) -> None:
    sp.partly_cached.run(workspace=workspace)
    found = status(sp.partly_cached, workspace=workspace)
    kinds = {r.kind for s in found.steps for r in s.reasons}
    assert "no-cache" in kinds


def test_a_package_upgrade_is_named(
    workspace: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.pipelines.test_step_environment import _clear, _write_distribution

    site = tmp_path / "venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    _write_distribution(site, "labtoy_stats", "1.0")
    _clear()
    (project / "uses_toy.py").write_text(
        textwrap.dedent(
            """
            import labtoy_stats
            from labledger import pipeline, step


            @step
            def measure(n: int) -> int:
                return n * labtoy_stats.VALUE


            @pipeline
            def toy(n: int = 2) -> None:
                measure(n)
            """
        )
    )
    try:
        module = importlib.import_module("uses_toy")
        module.toy.run(workspace=workspace)
        assert status(module.toy, workspace=workspace).up_to_date
        _write_distribution(site, "labtoy_stats", "1.1")
        _clear()
        found = status(module.toy, workspace=workspace)
        assert _reasons(found, "measure") == ["package labtoy-stats 1.0 -> 1.1"]
    finally:
        for name in ("uses_toy", "labtoy_stats"):
            sys.modules.pop(name, None)
        _clear()


def test_a_step_behind_one_that_runs_still_lists_its_own_changes(workspace: Workspace) -> None:
    sp.arithmetic.run(workspace=workspace)
    found = status(sp.arithmetic, {"n": 6, "factor": 4}, workspace=workspace)
    reasons = _reasons(found, "scaled")
    assert reasons[0].startswith("reads the output of")
    assert "param factor: 3 -> 4" in reasons


def test_renamed_outputs_are_named_as_the_reason(workspace: Workspace, project: Path) -> None:
    source = textwrap.dedent(
        """
        from labledger import pipeline, step


        @step(outputs=({first!r}, {second!r}))
        def split(n: int) -> tuple[list[int], list[int]]:
            return list(range(n)), list(range(n, 2 * n))


        @pipeline
        def halves(n: int = 3) -> None:
            split(n)
        """
    )
    (project / "renamed_outputs.py").write_text(source.format(first="lo", second="hi"))
    try:
        module = importlib.import_module("renamed_outputs")
        module.halves.run(workspace=workspace)
        (project / "renamed_outputs.py").write_text(source.format(first="low", second="high"))
        importlib.invalidate_caches()
        module = importlib.reload(module)
        found = status(module.halves, workspace=workspace)
        assert _reasons(found, "split") == ["its outputs are now named low, high (were lo, hi)"]
    finally:
        sys.modules.pop("renamed_outputs", None)


def test_a_changed_folder_names_the_files_edited_added_and_removed(
    workspace: Workspace, project: Path
) -> None:
    plates = project / "plates"
    plates.mkdir()
    for name in ("a.txt", "b.txt"):
        (plates / name).write_text(name)
    fp.by_folder.run(workspace=workspace)
    (plates / "a.txt").write_text("edited")
    (plates / "b.txt").unlink()
    (plates / "c.txt").write_text("new")
    found = status(fp.by_folder, workspace=workspace)
    assert _reasons(found, "list_folder") == [
        "folder plates changed: edited a.txt; added c.txt; removed b.txt"
    ]


def test_behind_an_upstream_that_runs_no_package_is_said_to_change(workspace: Workspace) -> None:
    pytest.importorskip("pandas")
    fp.frames.run(workspace=workspace, n=3)
    found = status(fp.frames, {"n": 4}, workspace=workspace)
    assert _reasons(found, "frame_total") == ["reads the output of make_frame, which will run"]
