"""The current workspace: opened on first use from settings, or set explicitly."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    import os

__all__ = ["get_workspace", "set_workspace"]

_lock = threading.Lock()
_current: Workspace | None = None


def get_workspace() -> Workspace:
    """The current workspace, opened from ``LABLEDGER_URI`` or discovery on first use."""
    global _current  # noqa: PLW0603 - the one overridable piece of process state
    with _lock:
        if _current is None:
            _current = Workspace.open()
        return _current


def set_workspace(workspace: Workspace | str | os.PathLike[str] | None) -> Workspace | None:
    """Make ``workspace`` current (a Workspace, or a URI to open); ``None`` forgets it."""
    global _current  # noqa: PLW0603
    with _lock:
        if workspace is None or isinstance(workspace, Workspace):
            _current = workspace
        else:
            _current = Workspace.open(workspace)
        return _current
