"""Fixtures for driving the ``labledger`` command line as a user would."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from labledger.cli import app

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke the CLI in-process: ``cli("runs", "list", "--json")``; bugs raise instead of exiting."""
    # Wide enough that no table cell wraps, and no colour codes in the output.
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def populated(workspace_factory: Callable[..., Workspace], tmp_path: Path) -> Workspace:
    """A workspace with three finished runs (params, metric series, tags) and their artifacts."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    return workspace_factory(
        runs=[
            {
                "name": "baseline",
                "params": {"model": "gbm", "lr": 0.1},
                "metrics": {"auc": [0.6, 0.7, 0.75], "loss": [0.9, 0.6, 0.5]},
                "tags": {"team": "assay"},
                "artifacts": {"scores.json": {"auc": 0.75}, "images": folder},
            },
            {
                "name": "tuned",
                "params": {"model": "gbm", "lr": 0.05},
                "metrics": {"auc": [0.7, 0.85], "loss": [0.7, 0.3]},
                "tags": {"team": "assay"},
                "artifacts": {"model.bin": b"weights"},
            },
            {
                "name": "forest",
                "params": {"model": "rf", "lr": 0.1},
                "metrics": {"auc": [0.8], "loss": [0.4]},
                "tags": {"team": "core"},
            },
        ]
    )
