"""``labledger run`` as a real process: imports from the project folder, and Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from labledger.tracking import get_run
from labledger.workspace.workspace import Workspace

_SCRIPT = Path(sys.executable).with_name("labledger")

NAPPING = """
import os
import time
from pathlib import Path

from labledger.pipelines import pipeline, step


@step
def load(n: int) -> list:
    print(f"loaded {n} values")
    return list(range(n))


@step
def nap(values: list) -> int:
    Path(os.environ["NAP_MARKER"]).touch()
    time.sleep(float(os.environ["NAP_SECONDS"]))
    return sum(values)


@pipeline
def study(n: int = 5) -> None:
    nap(load(n))
"""


def _command(*args: str) -> list[str]:
    command = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "labledger"]
    return [*command, *args]


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LABLEDGER_")}
    return {**base, "COLUMNS": "200", "NO_COLOR": "1", **extra}


def _project(root: Path) -> None:
    (root / "lab_study").mkdir()
    (root / "lab_study" / "__init__.py").write_text("")
    (root / "lab_study" / "pipe.py").write_text(textwrap.dedent(NAPPING))
    Workspace.init(root).close()


def test_a_module_reference_imports_from_the_project_folder(tmp_path: Path) -> None:
    _project(tmp_path)
    env = _env(NAP_MARKER=str(tmp_path / "marker"), NAP_SECONDS="0")
    result = subprocess.run(
        _command("run", "lab_study.pipe:study"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "[load] loaded 5 values" in result.stdout
    assert "2 ran, 0 cached" in result.stdout


def test_ctrl_c_marks_the_run_killed_and_says_how_to_resume(tmp_path: Path) -> None:
    _project(tmp_path)
    marker = tmp_path / "marker"
    process = subprocess.Popen(
        _command("run", "lab_study/pipe.py:study"),
        cwd=tmp_path,
        env=_env(NAP_MARKER=str(marker), NAP_SECONDS="60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the napping step never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    found = re.search(r"run (\S+) was marked killed\.", err)
    assert found is not None, err
    assert "1 step finished and 0 steps came from the cache" in err
    assert "Run the same command again to resume" in err
    ws = Workspace.open(tmp_path)
    try:
        assert get_run(found.group(1), workspace=ws).status == "killed"
    finally:
        ws.close()
    resumed = subprocess.run(
        _command("run", "lab_study/pipe.py:study"),
        cwd=tmp_path,
        env=_env(NAP_MARKER=str(marker), NAP_SECONDS="0"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "1 ran, 1 cached" in resumed.stdout
