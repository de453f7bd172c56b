"""``labledger --help`` and ``import labledger.cli`` stay light: no data, server or cluster libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "sqlalchemy.dialects.postgresql",
    "fastapi",
    "dask",
    "distributed",
    "alembic",
)

_PROBE = """
import json, runpy, sys
sys.argv = {argv!r}
try:
    {body}
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def _modules_after(body: str, argv: list[str]) -> tuple[object, set[str]]:
    script = _PROBE.format(argv=argv, body=body)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "80"},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_import_cli_is_light() -> None:
    code, modules = _modules_after("import labledger.cli", ["labledger"])
    assert code == 0
    assert _heavy(modules) == []


def test_help_is_light() -> None:
    for argv in (
        ["labledger", "--help"],
        ["labledger", "runs", "--help"],
        ["labledger", "verify", "--help"],
    ):
        code, modules = _modules_after("runpy.run_module('labledger', run_name='__main__')", argv)
        assert code == 0, argv
        assert _heavy(modules) == [], argv
