"""``labledger runs plot``: metric curves into files, and its mistakes in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger import search_runs

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def test_runs_plot_writes_png_and_html(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    ids = [run.id for run in search_runs(workspace=populated)]
    where = str(populated.settings.root)
    for name, magic in (("curves.png", b"\x89PNG"), ("curves.html", b"<!DOCTYPE html>")):
        target = tmp_path / name
        result = cli(
            "runs",
            "plot",
            *ids[:2],
            "--metric",
            "auc",
            "-m",
            "loss",
            "-o",
            str(target),
            "-w",
            where,
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"wrote {target}"
        assert target.read_bytes().startswith(magic)


def test_runs_plot_mistakes_fail_with_one_line(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    run = search_runs(workspace=populated)[0].id
    where = str(populated.settings.root)
    cases = {
        ("-m", "f1", "-o", str(tmp_path / "c.png")): "metrics these runs logged: auc, loss",
        ("-m", "auc", "-o", str(tmp_path / "c.svg")): "must be .png or .html",
    }
    for args, message in cases.items():
        result = cli("runs", "plot", run, *args, "-w", where)
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
