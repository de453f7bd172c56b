"""Fixtures shared by every test: isolated settings, workspaces, and no run left open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# A test process's terminal width comes from each test (``COLUMNS``), never from the process:
# the CLI's console fixes a width it finds in the environment when first imported, and
# pytest-xdist's workers start with ``COLUMNS=80``.
os.environ.pop("COLUMNS", None)

from labledger.tracking import run as run_module
from labledger.workspace import current
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

# This checkout's package sources: what a Python subprocess of a test must import.
SOURCE = Path(__file__).resolve().parents[1] / "src"

_SETTINGS_ENV = (
    "LABLEDGER_URI",
    "LABLEDGER_STORE",
    "LABLEDGER_STORE_LINK",
    "LABLEDGER_S3_ENDPOINT_URL",
    "LABLEDGER_SIGNING_KEY",
    "LABLEDGER_VERIFY_ON_READ",
    "LABLEDGER_USER",
    "LABLEDGER_TRUSTED_KEYS",
)


def subprocess_env(
    *paths: str | os.PathLike[str], base: Mapping[str, str] | None = None, **variables: str
) -> dict[str, str]:
    """The environment for a Python subprocess that imports this checkout's labledger.

    ``PYTHONPATH`` is this checkout's ``src`` first, then ``paths``, then whatever it held before,
    so the subprocess never imports another copy of the package (an installed one, or another
    checkout's).

    Args:
        paths: More folders to import from (test modules, a generated project).
        base: The environment to start from (default: this process's).
        variables: Variables to set besides.
    """
    env = dict(os.environ if base is None else base)
    entries = [str(SOURCE), *map(os.fspath, paths), *env.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entry for entry in entries if entry))
    env.update(variables)
    return env


@pytest.fixture(autouse=True)
def _isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No setting leaks in from the environment, and no run or current workspace leaks out."""
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    # What `verify` remembers per user goes to a fresh folder, never the real home.
    monkeypatch.setenv("LABLEDGER_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    # Signing keys made by `keys create` go to a fresh folder too.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    yield
    with run_module._stack_lock:
        leftover = list(run_module._stack)
        run_module._stack.clear()
    for active in leftover:
        active._buffer.stop()
    stale = current._current
    current.set_workspace(None)
    if stale is not None:
        stale.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A new embedded workspace in ``tmp_path``, closed (and forgotten as current) afterwards."""
    ws = Workspace.init(tmp_path)
    try:
        yield ws
    finally:
        current.set_workspace(None)
        ws.close()


@pytest.fixture
def workspace_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Workspace]]:
    """Build workspaces with given contents.

    ``workspace_factory(runs=[{"name": "a", "params": {...}, "metrics": {"loss": [0.9, 0.5]},
    "tags": {...}, "artifacts": {"model": b"..."}, "status": "finished"}])`` creates a workspace in
    a new folder (or ``path=``) with those runs, and returns it opened; each is closed afterwards.
    """
    from labledger.tracking.run import start_run

    made: list[Workspace] = []

    def make(*, path: Path | None = None, runs: list[dict[str, Any]] | None = None) -> Workspace:
        folder = path if path is not None else tmp_path_factory.mktemp("ws")
        ws = Workspace.init(folder)
        made.append(ws)
        for spec in runs or []:
            active = start_run(
                spec.get("name"), params=spec.get("params"), tags=spec.get("tags"), workspace=ws
            )
            for key, values in spec.get("metrics", {}).items():
                for value in values if isinstance(values, list) else [values]:
                    active.log_metric(key, value)
            for name, value in spec.get("artifacts", {}).items():
                active.log_artifact(value, name=name)
            active.end(spec.get("status", "finished"))
        return ws

    yield make
    for ws in made:
        ws.close()


@pytest.fixture
def in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test with ``tmp_path`` as the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
