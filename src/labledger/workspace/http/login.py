"""Signing in to a labledger server and out again: ``login`` saves a token, ``logout`` revokes it.

``login(url, user=..., password=...)`` asks the server for an API token (``POST /api/v1/sessions``)
and saves it for that URL (see ``credentials``); ``login(url, token=...)`` checks a token made
elsewhere (``labledger tokens create``) and saves it. ``logout(url)`` revokes a token ``login``
made, then forgets it; a token brought with ``token=`` is only forgotten (its maker revokes it).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import ConfigurationError, ValidationError
from labledger.workspace.http.client import Client
from labledger.workspace.http.credentials import (
    SavedLogin,
    forget_login,
    normalise_url,
    save_login,
    saved_login,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["login", "logout"]


def _server_url(url: str) -> str:
    base = normalise_url(url)
    if not base.startswith(("http://", "https://")):
        raise ValidationError(
            f"{url!r} is not a server URL", hint="use http://host:port or https://host"
        )
    return base


def login(
    url: str,
    *,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> SavedLogin:
    """Sign in to the server at ``url`` and save the token for it.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8080``.
        user: The user name (with ``password``).
        password: Their password; the server makes a token named after this machine.
        token: An API token made elsewhere, in place of a user and password.
        transport: An httpx transport in place of the network (tests).

    Returns:
        What was saved.

    Raises:
        AuthenticationError: A wrong user name, password or token.
        ValidationError: Neither a password nor a token, or both.
    """
    base = _server_url(url)
    if (token is None) == (password is None) or (password is not None and not user):
        raise ValidationError(
            "sign in with a user name and password, or with a token",
            hint="`labledger login URL` asks for both; `--token-stdin` reads a token",
        )
    if token is not None:
        refused = (
            "the server refused this token: check it is whole and live (`labledger tokens list`)"
        )
        client = Client(base, token=token, transport=transport, login_hint=refused)
        try:
            me: dict[str, Any] = client.call("GET", "/api/v1/me", model=dict)
        finally:
            client.close()
        saved = SavedLogin(token, None, str(me["name"]))
    else:
        wrong = (
            "check the user name and password (an administrator sets a new one with "
            "`labledger users password USER` on the server's host)"
        )
        client = Client(base, transport=transport, login_hint=wrong)
        body = {"user": user, "password": password, "token_name": f"login@{socket.gethostname()}"}
        try:
            issued: dict[str, Any] = client.call("POST", "/api/v1/sessions", body, dict)
        finally:
            client.close()
        saved = SavedLogin(str(issued["secret"]), str(issued["token"]["id"]), user)
    save_login(base, saved)
    return saved


def logout(url: str, *, transport: httpx.BaseTransport | None = None) -> SavedLogin:
    """Revoke the token ``login`` made for ``url`` on the server, and forget it here.

    Raises:
        ConfigurationError: No login is saved for ``url``.
    """
    base = _server_url(url)
    saved = saved_login(base)
    if saved is None:
        raise ConfigurationError(
            f"not logged in to {base}", hint=f"`labledger login {base}` signs in"
        )
    if saved.token_id is not None:
        client = Client(base, token=saved.token, transport=transport)
        try:
            client.call("DELETE", f"/api/v1/tokens/{saved.token_id}", model=None, idempotent=True)
        finally:
            client.close()
    forget_login(base)
    return saved
