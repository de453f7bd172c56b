"""``POST /api/v1/sessions``: sign in with a user name and password, get an API token.

This is what ``labledger login`` calls. The token it returns is an ordinary API token (listed by
``GET /api/v1/tokens``, revoked by ``DELETE /api/v1/tokens/{id}``). Attempts are not rate-limited
yet: put the server behind a proxy that limits them when it faces an untrusted network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from labledger.identity.service import MAX_TOKEN_DAYS
from labledger.server.models import IssuedTokenOut, TokenOut
from labledger.server.permissions import public

if TYPE_CHECKING:
    from labledger.identity import IdentityService

__all__ = ["SIGN_IN_PATH", "SessionIn", "router"]

router = APIRouter(prefix="/api/v1", tags=["identity"])
SIGN_IN_PATH = "/api/v1/sessions"  # the one route with a body that needs no token
_DAY_S = 86_400.0


class SessionIn(BaseModel):
    """A password sign-in, and the token to make for it."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    token_name: str = Field(default="login", min_length=1, max_length=200)
    expires_in_days: float | None = Field(default=90.0, gt=0, le=MAX_TOKEN_DAYS, strict=True)


@router.post(
    SIGN_IN_PATH.removeprefix("/api/v1"),
    response_model=IssuedTokenOut,
    status_code=201,
    dependencies=[public()],
)
def sign_in(body: SessionIn, request: Request) -> IssuedTokenOut:
    """Check a user's password and make them an API token; the secret is in this response only."""
    service: IdentityService = request.app.state.identity
    user = service.authenticate_password(body.user, body.password)
    lifetime = None if body.expires_in_days is None else body.expires_in_days * _DAY_S
    issued = service.issue_token(user.name, body.token_name, by=user.name, expires_in_s=lifetime)
    return IssuedTokenOut(token=TokenOut.of(issued.token), secret=issued.secret)
