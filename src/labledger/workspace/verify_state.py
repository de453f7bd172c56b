"""What this user last verified, kept outside the catalog so a plain ``verify`` sees truncation.

After a clean ``verify``, the ledger's size and Merkle root (and the signing keys it registers) are
written to a per-user state folder: ``$LABLEDGER_STATE_DIR``, else ``$XDG_STATE_HOME/labledger``,
else ``~/.local/state/labledger``; one small JSON file per workspace location. The next ``verify``
of the same location proves the ledger still extends that state, so entries cut from its end,
rewritten or re-hashed since are found even without a published checkpoint. Someone who can edit
the catalog cannot edit this file (unless they are this user).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = [
    "VerifiedState",
    "forget_state",
    "load_state",
    "save_state",
    "state_dir",
    "state_path",
    "workspace_location",
    "write_state_file",
]


def state_dir() -> Path:
    """The per-user state folder."""
    explicit = os.environ.get("LABLEDGER_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labledger"


def workspace_location(workspace: Workspace) -> str:
    """Where the workspace lives: its folder, or its database URL without a password."""
    root = workspace.settings.root
    if root is not None:
        return str(root.resolve())
    return workspace.catalog.safe_url


@dataclass(frozen=True, slots=True)
class VerifiedState:
    """The ledger as this user last verified it.

    Attributes:
        workspace: The workspace's id then.
        size: How many entries the ledger had.
        root: Their Merkle root (hex).
        verified_at: When.
        keys: ``[actor, public_key, registering entry id]`` for every key the ledger registered.
    """

    workspace: str
    size: int
    root: str
    verified_at: float
    keys: list[list[str]] = field(default_factory=list)


def state_path(workspace: Workspace, what: str = "verified") -> Path:
    """The file of this user's state about ``workspace``: ``verified`` or ``tip`` (see ``tip``)."""
    name = hashlib.sha256(workspace_location(workspace).encode()).hexdigest()[:32]
    suffix = "" if what == "verified" else f".{what}"
    return state_dir() / "workspaces" / f"{name}{suffix}.json"


def forget_state(workspace: Workspace) -> None:
    """Drop what this user remembers of ``workspace`` (after restoring an older backup on purpose)."""
    for what in ("verified", "tip"):
        with contextlib.suppress(FileNotFoundError):
            state_path(workspace, what).unlink()
    workspace.ledger_tip = None


def load_state(workspace: Workspace) -> VerifiedState | None:
    """What this user last verified of ``workspace``; ``None`` if never (or unreadable)."""
    try:
        document: Any = json.loads(state_path(workspace).read_text(encoding="utf-8"))
        return VerifiedState(
            workspace=str(document["workspace"]),
            size=int(document["size"]),
            root=str(document["root"]),
            verified_at=float(document["verified_at"]),
            keys=[[str(v) for v in key] for key in document.get("keys", [])],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(workspace: Workspace, state: VerifiedState) -> None:
    """Remember ``state``, unless what is remembered already covers more entries.

    Best effort: a state folder that cannot be written costs only the check it would allow.
    """
    path = state_path(workspace)
    known = load_state(workspace)
    if known is not None and known.workspace == state.workspace and known.size > state.size:
        return
    document = {
        "location": workspace_location(workspace),
        "workspace": state.workspace,
        "size": state.size,
        "root": state.root,
        "verified_at": state.verified_at,
        "keys": state.keys,
    }
    write_state_file(path, document)


def write_state_file(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` with ``document`` as JSON, whole or not at all; best effort."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
