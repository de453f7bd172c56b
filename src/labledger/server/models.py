"""The JSON shapes of the ``/api/v1`` identity routes (pydantic), and conversions from store types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from labledger.identity.service import (
    MAX_DESCRIPTION,
    MAX_TOKEN_DAYS,
    MIN_PASSWORD,
    PROJECT_NAME_PATTERN,
    USER_NAME_PATTERN,
)
from labledger.stores.identity import Role  # noqa: TC001 - pydantic reads field types at run time

if TYPE_CHECKING:
    from labledger.stores.identity import ApiToken, Membership, ProjectAccess, User

__all__ = [
    "IssuedTokenOut",
    "MembershipOut",
    "NewProjectIn",
    "NewTokenIn",
    "NewUserIn",
    "ProjectOut",
    "RoleIn",
    "TokenOut",
    "UserOut",
]


class UserOut(BaseModel):
    """A user."""

    id: str
    name: str
    display_name: str
    created_at: float
    disabled: bool
    is_admin: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            name=user.name,
            display_name=user.display_name,
            created_at=user.created_at,
            disabled=user.disabled,
            is_admin=user.is_admin,
        )


class NewUserIn(BaseModel):
    """A user to create; without a password they sign in with API tokens only."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=USER_NAME_PATTERN)
    display_name: str = Field(default="", max_length=200)
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=1024)
    is_admin: bool = False


class TokenOut(BaseModel):
    """An API token, without its secret."""

    id: str
    user_id: str
    name: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            user_id=token.user_id,
            name=token.name,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class NewTokenIn(BaseModel):
    """A token to make for the signed-in user."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0, le=MAX_TOKEN_DAYS, strict=True)


class IssuedTokenOut(BaseModel):
    """A token just made, with its secret: shown this once, never stored."""

    token: TokenOut
    secret: str


class NewProjectIn(BaseModel):
    """A project to create: its name, and what it is for."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=PROJECT_NAME_PATTERN)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class ProjectOut(BaseModel):
    """A project and the caller's role in it (``null`` for an admin who is no member)."""

    id: str
    name: str
    description: str
    created_at: float
    role: Role | None

    @classmethod
    def of(cls, project: ProjectAccess) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            description=project.description,
            created_at=project.created_at,
            role=project.role,
        )


class RoleIn(BaseModel):
    """The role to give."""

    model_config = ConfigDict(extra="forbid")

    role: Role


class MembershipOut(BaseModel):
    """A user's role in a project."""

    project: str
    user: str
    role: Role
    granted_at: float
    granted_by: str

    @classmethod
    def of(cls, member: Membership) -> MembershipOut:
        return cls(
            project=member.project,
            user=member.user,
            role=member.role,
            granted_at=member.granted_at,
            granted_by=member.granted_by,
        )
