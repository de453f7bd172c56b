"""Fixtures for the server's routes: an app over a fresh workspace, clients with tokens."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    # Newer Starlette prefers its httpx2 fork for the test client; plain httpx works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from labledger.identity import IdentityService, Role, local_user
from labledger.server import create_app

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.workspace.workspace import Workspace


@pytest.fixture
def service(workspace: Workspace) -> IdentityService:
    return IdentityService(workspace.stores.identity)


@pytest.fixture
def team(workspace: Workspace, service: IdentityService) -> dict[str, str]:
    """Project ``assay`` with a viewer, an editor, a project admin, a workspace admin and an
    outsider; their token secrets by name."""
    workspace.project_id("assay")
    root = local_user("root")
    secrets: dict[str, str] = {}
    for name, role in (("vera", Role.VIEWER), ("ed", Role.EDITOR), ("pat", Role.ADMIN)):
        service.create_user(name, by="root")
        service.grant("assay", name, role, actor=root)
    service.create_user("otto", by="root")
    service.create_user("ada", by="root", is_admin=True)
    for name in ("vera", "ed", "pat", "otto", "ada"):
        secrets[name] = service.issue_token(name, "test", by="root").secret
    return secrets


@pytest.fixture
def app(workspace: Workspace) -> Any:
    return create_app(workspace, auth_required=True, body_limit=4096)


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app)


@pytest.fixture
def as_user(client: TestClient, team: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """Headers that sign a request as one of the team."""

    def headers(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {team[name]}"}

    return headers
