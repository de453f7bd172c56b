"""The labledger server: a JSON API under ``/api/v1`` (FastAPI, served by uvicorn).

A thin shell like the CLI: each route parses, authorises with its one declared permission, calls a
service and renders. Needs the ``server`` extra (``pip install 'labledger[server]'``); importing
this package does not import FastAPI until ``create_app`` or ``serve`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labledger.server.launch import (
    auth_required_for,
    is_loopback,
    open_served_workspace,
    serve,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from labledger.workspace.workspace import Workspace

__all__ = ["auth_required_for", "create_app", "is_loopback", "open_served_workspace", "serve"]


def create_app(workspace: Workspace, *, auth_required: bool, **options: Any) -> FastAPI:
    """The FastAPI application over ``workspace`` (see ``labledger.server.app.create_app``)."""
    from labledger.server.app import create_app as build

    return build(workspace, auth_required=auth_required, **options)
