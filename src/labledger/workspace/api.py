"""Workspace-level entry points of the public API: create, open and verify."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger.workspace.current import get_workspace, set_workspace
from labledger.workspace.verify import VerifyReport, verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    import os

__all__ = ["init", "open_workspace", "verify"]


def init(path: str | os.PathLike[str] | None = None) -> Workspace:
    """Create (or open) a workspace at ``path`` and make it the current one."""
    workspace = Workspace.init(path)
    set_workspace(workspace)
    return workspace


def open_workspace(uri: str | os.PathLike[str] | None = None) -> Workspace:
    """Open an existing workspace and make it the current one."""
    workspace = Workspace.open(uri)
    set_workspace(workspace)
    return workspace


def verify(*, blobs: bool = True, workspace: Workspace | None = None) -> VerifyReport:
    """Check the ledger chain, every blob and every sealed run record of a workspace."""
    return verify_workspace(workspace or get_workspace(), blobs=blobs)
