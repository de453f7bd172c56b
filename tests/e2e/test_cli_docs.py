"""docs/cli.md is generated from --help and must match the commands as they are now."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_cli_docs.py"


def _render() -> str:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page: str = module.render()
    return page


def test_cli_reference_is_up_to_date() -> None:
    expected = _render()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is stale: run python scripts/gen_cli_docs.py"


def test_cli_reference_covers_every_command_without_terminal_codes() -> None:
    page = _render()
    for heading in ("## labledger runs list", "## labledger verify", "## labledger keys create"):
        assert heading in page
    assert "\x1b" not in page
    assert "╭" not in page


def test_check_mode_does_not_depend_on_the_terminal() -> None:
    env = {"PATH": "", "COLUMNS": "37", "TERM": "xterm-256color", "FORCE_COLOR": "1"}
    # The script imports the labledger under test, not whichever one is installed.
    env["PYTHONPATH"] = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
