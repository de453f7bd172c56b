"""A server refuses to start when it would not sign checkpoints with the catalog's workspace key."""

from __future__ import annotations

import dataclasses
import shutil
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import ConfigurationError
from labledger.workspace.checkpoints import check_workspace_key, make_checkpoint
from labledger.workspace.signing import generate_key

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


def test_a_workspace_whose_key_is_not_registered_yet_passes(workspace: Workspace) -> None:
    check_workspace_key(workspace)  # the first checkpoint makes and registers it


def test_the_registered_key_passes(workspace: Workspace) -> None:
    make_checkpoint(workspace)
    check_workspace_key(workspace)


def test_a_key_file_that_is_gone_is_refused(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "server.pem"
    monkeypatch.setenv("LABLEDGER_WORKSPACE_KEY", str(kept))
    make_checkpoint(workspace)
    shutil.move(kept, tmp_path / "moved.pem")
    with pytest.raises(ConfigurationError, match="does not exist"):
        check_workspace_key(workspace)


def test_no_key_configured_for_a_database_workspace_is_refused(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_checkpoint(workspace)
    # as a workspace opened by its database URL has it: no folder
    monkeypatch.setattr(workspace, "settings", dataclasses.replace(workspace.settings, root=None))
    with pytest.raises(ConfigurationError, match="LABLEDGER_WORKSPACE_KEY is not set"):
        check_workspace_key(workspace)


@pytest.mark.parametrize(
    ("key_file", "says"),
    [("another key", "is not the one this catalog"), ("not a key", "cannot be read")],
)
def test_a_key_file_with_another_key_or_none_is_refused_naming_the_setting(
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key_file: str,
    says: str,
) -> None:
    make_checkpoint(workspace)
    given = tmp_path / "given.pem"
    if key_file == "another key":
        generate_key(given)
    else:
        given.write_text(key_file)
    monkeypatch.setenv("LABLEDGER_WORKSPACE_KEY", str(given))
    with pytest.raises(ConfigurationError, match=says) as caught:
        check_workspace_key(workspace)
    assert "LABLEDGER_WORKSPACE_KEY" in (caught.value.hint or "")
    assert "keys create" not in (caught.value.hint or "")
