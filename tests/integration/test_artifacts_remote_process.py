"""Artifacts from another process that only knows the server's URL (``LABLEDGER_URI=http://...``):
stored through the server, then listed and exported with the CLI against the same URL."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.digests import digest_file
from labledger.tracking import start_run
from labledger.tracking.artifacts import get_artifact
from tests.conftest import subprocess_env
from tests.integration.served import served_workspace

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

_STORE = """
import sys
from labledger.tracking.artifacts import store_artifact
from labledger.workspace.current import get_workspace

artifact = store_artifact(get_workspace(), sys.argv[1], name="plate.csv", run_id=sys.argv[2])
print(artifact.id)
"""


def test_a_process_with_only_the_url_stores_lists_and_exports_an_artifact(
    tmp_path: Path,
) -> None:
    source = tmp_path / "plate.csv"
    source.write_text("well,signal\n" + "".join(f"A{i},{i * 0.5}\n" for i in range(50_000)))
    with served_workspace(tmp_path / "ws") as remote:
        # Runs have no HTTP store here: the run is made where the workspace is.
        run = start_run("screen", workspace=remote.served)
        env = subprocess_env(LABLEDGER_URI=remote.client.base_url)
        stored = subprocess.run(
            [sys.executable, "-c", _STORE, str(source), run.id],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        artifact_id = stored.stdout.strip()
        artifact = get_artifact(artifact_id, workspace=remote.served)
        assert artifact.run_id == run.id
        assert artifact.digest == digest_file(source)
        assert artifact.created_by == remote.served.actor  # the server's single user
        assert remote.served.store.exists(artifact.digest)
        listed = subprocess.run(
            [sys.executable, "-m", "labledger", "artifacts", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert [a["id"] for a in json.loads(listed.stdout)] == [artifact_id]
        out = tmp_path / "exported.csv"
        subprocess.run(
            [sys.executable, "-m", "labledger", "artifacts", "get", artifact_id, str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert out.read_bytes() == source.read_bytes()
        run.end()
