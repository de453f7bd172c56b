"""What a run ran on: interpreter, platform, packages, hardware and git state."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import labledger
from labledger.tracking import environment
from labledger.tracking.environment import capture_environment, git_state
from labledger.tracking.query import get_run
from labledger.workspace.current import set_workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def _fresh_git_cache() -> Iterator[None]:
    environment._git_cache.clear()
    yield
    environment._git_cache.clear()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    _git(folder, "init", "-q")
    (folder / "train.py").write_text("print('hi')\n")
    _git(folder, "add", "train.py")
    _git(folder, "commit", "-q", "-m", "first")
    return folder


def test_environment_describes_this_process() -> None:
    env = capture_environment()
    assert env["python"]["version"] == platform.python_version()
    assert env["python"]["executable"] == sys.executable
    assert env["platform"]["system"] == platform.system()
    assert env["hardware"]["cpus"] >= 1
    assert isinstance(env["hardware"]["gpus"], list)
    names = [p.split("==")[0].lower() for p in env["packages"]]
    assert "sqlalchemy" in names
    assert "blake3" in names
    assert env["packages"] == sorted(env["packages"], key=str.lower)
    assert all("==" in p for p in env["packages"])
    json.dumps(env)  # JSON-able, so it can be stored as a blob


def test_installed_distributions_match_what_importlib_metadata_reads() -> None:
    from importlib import metadata

    expected = [
        (dist.metadata["Name"], dist.version, tuple(dist.requires or ()))
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    ]
    found = [(d.name, d.version, d.requires) for d in environment.installed_distributions()]
    assert found == expected
    assert any(name.lower() == "sqlalchemy" and requires for name, _, requires in found)


def test_the_environment_is_stored_as_a_blob_of_each_run(workspace: Workspace) -> None:
    set_workspace(workspace)
    with labledger.start_run() as first:
        pass
    with labledger.start_run() as second:
        pass
    digest = get_run(first.id).environment_digest
    assert digest is not None
    assert get_run(second.id).environment_digest == digest
    with workspace.store.open(digest) as handle:
        stored = json.loads(handle.read())
    assert any(p.lower().startswith("sqlalchemy==") for p in stored["packages"])


def test_a_recreated_workspace_still_gets_its_environment_blob(tmp_path: Path) -> None:
    from labledger.workspace.workspace import Workspace

    with Workspace.init(tmp_path) as ws, labledger.start_run(workspace=ws) as run:
        pass
    with Workspace.open(tmp_path) as ws:
        digest = get_run(run.id, workspace=ws).environment_digest
    shutil.rmtree(tmp_path / ".labledger")
    # Same path, same process (a notebook, say): the new store must hold the blob too.
    with Workspace.init(tmp_path) as ws:
        with labledger.start_run(workspace=ws) as again:
            pass
        env_digest = get_run(again.id, workspace=ws).environment_digest
        assert env_digest == digest
        assert env_digest is not None
        assert ws.store.exists(env_digest)
        from labledger.workspace.verify import verify_workspace

        report = verify_workspace(ws)
        assert report.ok
        assert report.blobs_checked == 1


@needs_git
def test_git_state_of_a_clean_and_a_dirty_repo(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert git_state(repo) == (head, False)
    assert git_state(repo).commit == head
    assert git_state(repo).dirty is False
    (repo / "train.py").write_text("print('changed')\n")
    environment._git_cache.clear()
    assert git_state(repo) == (head, True)
    # Untracked files do not make a repo dirty.
    _git(repo, "checkout", "-q", "train.py")
    (repo / "scratch.txt").write_text("notes")
    environment._git_cache.clear()
    assert git_state(repo).dirty is False


@needs_git
def test_git_state_is_cached_briefly(repo: Path) -> None:
    first = git_state(repo)
    (repo / "train.py").write_text("print('changed')\n")
    assert git_state(str(repo)) == first  # within the cache time


def test_outside_a_repo_there_is_no_git_state(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (None, None)
    assert git_state(tmp_path).commit is None


@needs_git
def test_runs_record_the_git_state_of_the_working_folder(
    repo: Path, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_workspace(workspace)
    monkeypatch.chdir(repo)
    head = _git(repo, "rev-parse", "HEAD")
    with labledger.start_run() as clean:
        pass
    (repo / "train.py").write_text("print('edited')\n")
    environment._git_cache.clear()
    with labledger.start_run() as dirty:
        pass
    assert (get_run(clean.id).git_commit, get_run(clean.id).git_dirty) == (head, False)
    assert (get_run(dirty.id).git_commit, get_run(dirty.id).git_dirty) == (head, True)
