"""The installed command itself: a few real processes, as a shell user would run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import labledger

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

_SCRIPT = Path(sys.executable).with_name("labledger")


def _run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "labledger"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("LABLEDGER_")}
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env={**base, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"labledger {labledger.__version__}"


def test_python_dash_m_lists_runs(populated: Workspace) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "labledger",
            "runs",
            "list",
            "--json",
            "-w",
            str(populated.settings.root),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(run["name"] for run in json.loads(result.stdout)) == [
        "baseline",
        "forest",
        "tuned",
    ]


def test_init_then_verify_in_a_folder(tmp_path: Path) -> None:
    assert _run("init", cwd=tmp_path).returncode == 0
    verified = _run("verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "ok" in verified.stdout


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path, populated: Workspace) -> None:
    missing = _run("runs", "list", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("error: no .labledger workspace in ")
    assert "Traceback" not in missing.stderr

    unknown = _run("runs", "show", "ffffffff", env={"LABLEDGER_URI": str(populated.settings.root)})
    assert unknown.returncode == 1
    assert unknown.stderr.count("\n") == 1
    assert unknown.stderr.startswith("error: no run with id 'ffffffff'")


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a shell")
def test_usage_errors_exit_2() -> None:
    result = _run("runs", "show")
    assert result.returncode == 2
    assert "RUN_ID" in result.stderr
