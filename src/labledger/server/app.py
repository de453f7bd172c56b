"""``create_app``: the FastAPI application over one workspace.

Every route declares one permission (see ``permissions``); the OpenAPI document names it on each
operation as ``x-labledger-permission``. Errors have one body shape (see ``errors``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request

from labledger._foundation.errors import AuthenticationError, WorkspaceUnreadableError
from labledger.identity import IdentityService, local_user
from labledger.server.access import AccessCache
from labledger.server.errors import install_error_handlers
from labledger.server.identity_routes import router as identity_router
from labledger.server.key_routes import router as key_router
from labledger.server.ledger_routes import router as ledger_router
from labledger.server.middleware import BodyLimit, NeedsToken, NoNulCharacters, RequestIds
from labledger.server.openapi import openapi_document
from labledger.server.permissions import public
from labledger.server.routes import store_routers
from labledger.server.routes.sessions import SIGN_IN_PATH

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["DEFAULT_BODY_LIMIT", "DEFAULT_UPLOAD_LIMIT", "PROBE_DIGEST", "create_app"]

DEFAULT_BODY_LIMIT = 16 * 1024 * 1024
DEFAULT_UPLOAD_LIMIT = 5 * 1024 * 1024 * 1024
# Any well-formed digest will do: the probe asks the store a question, whatever the answer.
PROBE_DIGEST = "blake3:" + "0" * 64  # no blob has it: asking for it only shows the store answers

health = APIRouter(tags=["health"])


@health.get("/healthz", dependencies=[public()])
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@health.get("/readyz", dependencies=[public()])
def readyz(request: Request) -> dict[str, str]:
    """The catalog database and the blob store answer."""
    workspace: Workspace = request.app.state.workspace
    try:
        workspace.catalog.revision()
    except Exception as exc:
        raise WorkspaceUnreadableError(
            f"the catalog does not answer: {type(exc).__name__}",
            hint="check the database server and the workspace URI",
        ) from exc
    try:
        workspace.store.exists(PROBE_DIGEST)
    except Exception as exc:
        raise WorkspaceUnreadableError(
            f"the blob store does not answer: {type(exc).__name__}",
            hint="check the store's location and credentials",
        ) from exc
    return {"status": "ready", "catalog": "ok", "store": "ok"}


SIGN_IN_BODY_LIMIT = 16 * 1024  # a user name and a password: anyone may send one


def _user_id(access: AccessCache, secret: str) -> str:
    """Who a checked token belongs to, from memory (it was just checked): their user id."""
    user = access.known_user(secret)
    return f"user:{user.id}" if user is not None else f"token:{secret}"


def _token_is_valid(access: AccessCache, secret: str) -> bool:
    try:
        access.user(secret)
    except AuthenticationError:
        return False
    return True


def create_app(
    workspace: Workspace,
    *,
    auth_required: bool,
    body_limit: int = DEFAULT_BODY_LIMIT,
    upload_limit: int = DEFAULT_UPLOAD_LIMIT,
) -> FastAPI:
    """The labledger server over ``workspace``.

    Args:
        workspace: The open workspace the routes read and write.
        auth_required: Whether every non-public route needs an API token. Without it (single-user
            mode, for loopback binds only) requests without a token act as the workspace's actor,
            with administrator rights.
        body_limit: The largest request body accepted, in bytes (blob uploads aside).
        upload_limit: The largest blob accepted in one upload, in bytes.
    """
    from labledger import __version__

    app = FastAPI(
        title="labledger",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        # The interactive docs page loads its scripts from a CDN: not on a single-user server,
        # where a page of the server's own origin acts as its administrator without a token.
        docs_url="/api/v1/docs" if auth_required else None,
        redoc_url=None,
    )
    app.state.workspace = workspace
    app.state.identity = IdentityService(workspace.stores.identity)
    app.state.access = AccessCache(app.state.identity)
    app.state.auth_required = auth_required
    app.state.upload_limit = upload_limit
    app.state.local_user = None if auth_required else local_user(workspace.actor)
    install_error_handlers(app)
    for router in store_routers:  # the hottest first (see ``store_routers``)
        app.include_router(router)
    app.include_router(health)
    app.include_router(identity_router)
    app.include_router(key_router)
    app.include_router(ledger_router)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    # Outermost first: the request id exists before anything (even a 413) is answered.
    # The text check reads a body whole: inside the body limit, which refuses one too large.
    app.add_middleware(NoNulCharacters)
    app.add_middleware(
        BodyLimit,
        max_bytes=body_limit,
        upload_bytes=upload_limit,
        small={SIGN_IN_PATH: SIGN_IN_BODY_LIMIT},
    )
    access: AccessCache = app.state.access
    app.add_middleware(
        NeedsToken,
        enabled=auth_required,
        # Single-user mode ends when the workspace has users; from then on, as with auth.
        users_known=access.users_known,
        users_exist=access.has_users,
        open_paths=frozenset({SIGN_IN_PATH}),
        known=lambda secret: access.known_user(secret) is not None,
        check=lambda secret: _token_is_valid(access, secret),
        who=lambda secret: _user_id(access, secret),
    )
    app.add_middleware(RequestIds)
    return app
