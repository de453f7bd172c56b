"""``labledger runs record``: a finished run from the shell, checked before anything is written."""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING

import pytest

from labledger.tracking import get_metric_history, list_artifacts, search_runs

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def test_a_recorded_run_holds_what_was_given(
    cli: Callable[..., Result], workspace: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "roc.txt").write_text("roc")
    where = str(workspace.settings.root)
    result = cli(
        "runs", "record", "--name", "baseline", "-w", where,
        "--param", "lr=0.1", "--param", "note=a=b",
        "--metric", "loss=0.9", "--metric", "loss=0.5", "--metric", "auc=0.8",
        "--tag", "team=assay",
        "--artifact", str(tmp_path / "model.bin"), "--artifact", str(tmp_path / "plots"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    (run,) = search_runs(workspace=workspace)
    assert run.id == run_id
    assert (run.name, run.status) == ("baseline", "finished")
    assert run.params == {"lr": "0.1", "note": "a=b"}
    assert run.tags == {"team": "assay"}
    assert run.metrics == {"loss": 0.5, "auc": 0.8}
    history = get_metric_history(run_id, "loss", workspace=workspace)
    assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.5)]
    stored = {a.name: a.kind for a in list_artifacts(run_id=run_id, workspace=workspace)}
    assert stored == {"model.bin": "file", "plots": "tree"}
    assert run.record_digest is not None


def test_name_equals_path_names_an_artifact(
    cli: Callable[..., Result],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "m.bin").write_bytes(b"1")
    (tmp_path / "b" / "m.bin").write_bytes(b"2")
    (tmp_path / "odd=name.txt").write_text("a file whose name holds =")
    monkeypatch.chdir(tmp_path)
    result = cli(
        "runs", "record", "-w", str(workspace.settings.root),
        "--artifact", "a/m.bin", "--artifact", "second=b/m.bin", "--artifact", "odd=name.txt",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    stored = list_artifacts(run_id=result.stdout.strip(), workspace=workspace)
    assert sorted(a.name for a in stored) == ["m.bin", "odd=name.txt", "second"]


def test_infinite_and_nan_values_are_recorded_as_in_python(
    cli: Callable[..., Result], workspace: Workspace
) -> None:
    result = cli(
        "runs", "record", "-w", str(workspace.settings.root),
        "--metric", "a=inf", "--metric", "b=-inf", "--metric", "c=nan",
        "--param", "x=1", "--param", "x=1",  # the same value twice is the same param
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = search_runs(workspace=workspace)
    assert run.metrics["a"] == math.inf and run.metrics["b"] == -math.inf
    assert math.isnan(run.metrics["c"])
    assert run.params == {"x": "1"}


def test_json_names_the_run_and_its_artifacts(
    cli: Callable[..., Result], workspace: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    result = cli(
        "runs", "record", "-w", str(workspace.settings.root), "--json",
        "--metric", "auc=0.7", "--artifact", str(tmp_path / "a.csv"),
    )  # fmt: skip
    shown = json.loads(result.stdout)
    assert shown["status"] == "finished"
    assert shown["metrics"] == {"auc": 0.7}
    assert [a["name"] for a in shown["artifacts"]] == ["a.csv"]
    assert shown["artifacts"][0]["digest"].startswith("blake3:")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--param", "lr"), "--param 'lr' is not KEY=VALUE"),
        (("--tag", "=x"), "--tag '=x' is not KEY=VALUE"),
        (("--metric", "auc=high"), "the value is not a number"),
        (("--param", "lr=0.1", "--param", "lr=0.2"), "--param lr is given twice"),
        (("--artifact", "pipe"), "is not a regular file"),
        (("--artifact", "piped"), "holds pipe, which is not a regular file"),
        (("--metric", "="), "is not KEY=VALUE"),
        (("--artifact", "no/such/file"), "no such file or folder"),
        (("--artifact", "name=no/such/file"), "no such file or folder"),
        (
            ("--artifact", "x.txt", "--artifact", "sub/x.txt"),
            "two artifacts would be named 'x.txt'",
        ),
        (("--artifact", "link"), "is a symbolic link"),
        (("--artifact", "linked"), "holds to, which is a symbolic link"),
        (("--project", ""), "project"),
        (("--param", "x\x00=1"), "param key"),
    ],
)
def test_bad_input_records_nothing(
    cli: Callable[..., Result],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    says: str,
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "x.txt").write_text("x")
    (tmp_path / "sub" / "x.txt").write_text("y")
    (tmp_path / "link").symlink_to(tmp_path / "x.txt")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "to").symlink_to(tmp_path / "x.txt")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "piped").mkdir()
    os.mkfifo(tmp_path / "piped" / "pipe")
    monkeypatch.chdir(tmp_path)
    result = cli("runs", "record", "-w", str(workspace.settings.root), "--metric", "a=1", *args)
    assert result.exit_code == 1
    assert says in result.stderr
    assert search_runs(workspace=workspace) == []
