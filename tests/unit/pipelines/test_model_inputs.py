"""A cached model read back as a step's input loads no type outside the allow-list."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import StepFailedError
from tests.unit.materializers import forged_models as fm
from tests.unit.pipelines import model_pipelines as mp

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


def _replace_model(workspace: Workspace, result: Any, data: bytes) -> None:
    """Overwrite the stored model's bytes, as someone who can write the store could."""
    path = workspace.store.path_of(result.tasks["train"].digests["out"])
    path.chmod(0o644)
    path.write_bytes(data)


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, fm.CANARY_MODULE, raising=False)
    return fm.payloads(tmp_path)


@pytest.mark.parametrize("name", sorted(fm.payloads(__import__("pathlib").Path("."))))
def test_a_forged_cached_model_is_refused_as_a_step_input(
    name: str, corpus: dict[str, Any], workspace: Workspace, tmp_path: Path
) -> None:
    first = mp.scoring.run(workspace=workspace)
    payload = corpus[name]()
    _replace_model(workspace, first, fm.forged_model(payload))
    with pytest.raises(StepFailedError) as caught:
        mp.scoring.run(workspace=workspace, offset=1.0)
    message = str(caught.value) + str(caught.value.__cause__)
    assert "not known to be safe to load" in message
    assert f"{payload['__module__']}.{payload['__class__']}" in message
    time.sleep(0.05 if name == "subprocess.Popen" else 0)
    assert not (tmp_path / "canary").exists()


def test_only_a_trusted_step_reads_a_model_with_unknown_types(workspace: Workspace) -> None:
    from labledger.materializers.base import read_bytes

    first = mp.trusted_scoring.run(workspace=workspace)
    digest = first.tasks["train"].digests["out"]
    # A type outside the allow-list, harmless to call: the step vouches for it.
    stored = fm.forge(read_bytes(workspace.store, digest), fm.call("builtins", "abs", -1.0))
    _replace_model(workspace, first, stored)
    with pytest.raises(StepFailedError, match=r"builtins\.abs"):
        mp.scoring.run(workspace=workspace, offset=1.0)
    again = mp.trusted_scoring.run(workspace=workspace, offset=1.0)
    assert again.cached == ["train"]
    assert again.load("trusted_score") > 1.0


def test_a_cached_model_reads_back_without_trust(workspace: Workspace) -> None:
    mp.scoring.run(workspace=workspace)
    again = mp.scoring.run(workspace=workspace, offset=1.0)
    assert again.cached == ["train"]
    assert again.executed == ["score"]
