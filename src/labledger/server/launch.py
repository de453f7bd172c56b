"""Starting the server: which binds need authentication, and running it under uvicorn."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from labledger._foundation.errors import ConfigurationError

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["auth_required_for", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_required_for(host: str, *, has_users: bool) -> bool:
    """Whether a server bound to ``host`` requires API tokens.

    With users, always. Without any, a loopback bind runs in single-user mode (the local user acts,
    no sign-in); any other bind is refused, so a server is never open to the network without auth.

    Raises:
        ConfigurationError: ``host`` is not loopback and the workspace has no users.
    """
    if has_users:
        return True
    if is_loopback(host):
        return False
    raise ConfigurationError(
        f"refusing to listen on {host} without authentication: the workspace has no users",
        hint=(
            "create an administrator first (`labledger users create NAME --admin "
            "--password-stdin`), or bind to 127.0.0.1"
        ),
    )


def serve(workspace: Workspace, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the server over ``workspace`` until interrupted (uvicorn, one process)."""
    from labledger.identity import IdentityService

    auth = auth_required_for(host, has_users=IdentityService(workspace.stores.identity).has_users())
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "the server needs its extra dependencies", hint="pip install 'labledger[server]'"
        ) from exc
    from labledger.server.app import create_app
    from labledger.server.logs import log_config

    app = create_app(workspace, auth_required=auth)
    uvicorn.run(app, host=host, port=port, log_config=log_config(), access_log=False)
