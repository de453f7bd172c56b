"""Identity: users, API tokens and project roles, and the ``IdentityStore`` Protocol that keeps them.

The types here are what the identity service, the server and the CLI speak. None of them ever holds
a token's secret: the store keeps only its SHA-256, and the secret is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ApiToken",
    "Credentials",
    "IdentityStore",
    "Membership",
    "NewToken",
    "NewUser",
    "ProjectAccess",
    "Role",
    "TokenIssuer",
    "TokenMatch",
    "User",
    "UserKey",
    "UserMaker",
    "password_hash_fingerprint",
    "token_hash_fingerprint",
]

_RANK = {"viewer": 1, "editor": 2, "admin": 3}


def token_hash_fingerprint(secret_hash: str) -> str:
    """What a ``token.created`` entry holds of a token's stored hash, so ``verify`` can tell a
    hash replaced in the catalog (someone who can write it would sign in with a token of their
    own under a vouched-for id): the SHA-256 of ``labledger-token-hash:`` and the hash. It gives
    nothing away, as the hash itself does not: the secret behind it is 32 random bytes."""
    return hashlib.sha256(f"labledger-token-hash:{secret_hash}".encode()).hexdigest()


def password_hash_fingerprint(password_hash: str | None) -> str | None:
    """What a ``user.created`` or ``user.password_set`` entry holds of a user's stored password
    hash, so ``verify`` can tell a hash replaced in the catalog (someone who can write it would
    sign in as that user with a password of their own): the SHA-256 of
    ``labledger-password-hash:`` and the hash, or ``None`` for a user without a password.

    It lets no reader of the ledger test guessed passwords: the argon2id hash it is taken of
    carries a random 16-byte salt, which only the catalog holds, so a guess cannot be hashed to
    compare without it (and whoever reads the catalog has the hash itself)."""
    if password_hash is None:
        return None
    return hashlib.sha256(f"labledger-password-hash:{password_hash}".encode()).hexdigest()


class Role(StrEnum):
    """A user's role in a project, ordered ``VIEWER < EDITOR < ADMIN``.

    Comparisons follow that order (not the alphabet), so ``role >= Role.EDITOR`` reads as "may
    write".

    Example:
        >>> Role.parse("editor") >= Role.VIEWER
        True
    """

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """1 for viewer, 2 for editor, 3 for admin."""
        return _RANK[self.value]

    def allows(self, needed: Role) -> bool:
        """Whether this role includes everything ``needed`` may do."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named ``value`` (any case); ``ValidationError`` for anything else."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValidationError(
                f"unknown role {value!r}", hint="use viewer, editor or admin"
            ) from None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True)
class User:
    """A person (or service account) known to the workspace.

    Attributes:
        id: UUIDv7.
        name: The unique login name.
        display_name: How to show them; may be empty.
        created_at: Unix seconds.
        disabled: A disabled user can neither sign in nor use their tokens.
        is_admin: Workspace administrator: every role in every project, and user management.
    """

    id: str
    name: str
    display_name: str
    created_at: float
    disabled: bool = False
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to create (the store gives it no id: the caller does, so retries are idempotent)."""

    id: str
    name: str
    display_name: str
    created_at: float
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user and their password's hash (``None`` when they sign in with tokens only)."""

    user: User
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as listed: never its secret, nor the secret's hash.

    Attributes:
        id: UUIDv7; what `tokens revoke` takes.
        user_id: Whose token it is.
        name: A label the owner chose ("laptop", "ci").
        created_at: Unix seconds.
        expires_at: When it stops working; ``None`` for never.
        revoked_at: When it was revoked; ``None`` while it is not.
        last_used_at: Roughly when it was last used (updated at most once a minute).
    """

    id: str
    user_id: str
    name: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None

    def active(self, now: float) -> bool:
        """Whether the token may be used at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token to store: its row, with the SHA-256 (hex) of its secret and never the secret."""

    id: str
    user_id: str
    name: str
    secret_hash: str
    created_at: float
    expires_at: float | None = None
    parent_id: str | None = None  # the token it was made with, revoked with it


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """The token whose secret hashes to the looked-up value, and its owner."""

    token: ApiToken
    user: User


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's role in a project."""

    project: str
    user: str
    role: Role
    granted_at: float
    granted_by: str


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """A project as one user sees it: ``role`` is theirs (``None`` for an admin who is no member)."""

    id: str
    name: str
    description: str
    created_at: float
    role: Role | None


@dataclass(frozen=True, slots=True)
class UserKey:
    """An Ed25519 public key a user registered to sign their own ledger entries.

    Attributes:
        id: The public key, 64 hex digits: the ``key_id`` of the bodies it signs.
        user: The owner's name.
        name: A label the owner chose ("laptop", "cluster").
        created_at: Unix seconds.
        revoked_at: When it was revoked (it signs nothing valid after); ``None`` while it is not.
    """

    id: str
    user: str
    name: str
    created_at: float
    revoked_at: float | None = None


@runtime_checkable
class TokenIssuer(Protocol):
    """An identity store that makes API tokens itself: a server, which keeps every token's hash
    and so must make the secret too (it is in the answer once, never stored)."""

    def issue_token(
        self, user_id: str, name: str, *, expires_in_s: float | None
    ) -> tuple[ApiToken, str]:
        """Make a token for ``user_id``; its row and its secret.

        Raises:
            ConfigurationError: ``user_id`` is not the signed-in user (a server makes tokens
                for whoever asks, for themselves only).
        """
        ...


@runtime_checkable
class UserMaker(Protocol):
    """An identity store that hashes passwords itself: a server, which keeps every password's
    hash and so receives the password (over the TLS its deployment provides), never a hash."""

    def make_user(
        self, name: str, *, display_name: str, password: str | None, is_admin: bool
    ) -> User:
        """Create a user as the signed-in administrator, who the ledger names as its maker.

        Raises:
            ConflictError: A user of that name exists.
            PermissionDeniedError: The signed-in user is not an administrator.
        """
        ...


class IdentityStore(Protocol):
    """Where users, tokens and project roles live.

    Every write is one transaction that appends its own ledger entry (``user.created``,
    ``token.created``, ``token.revoked``, ``project.created``, ``role.changed``, ``user.key_added`` ...) naming ``by``,
    the acting user; no entry ever holds a secret or a hash (``token.created``, ``user.created``
    and ``user.password_set`` hold a fingerprint of the hash the row keeps, which ``verify``
    holds the row to).
    """

    def create_user(self, user: NewUser, *, password_hash: str | None, by: str) -> User:
        """Create a user; ``ConflictError`` when the name is taken."""
        ...

    def get_users(self, refs: Sequence[str]) -> dict[str, User]:
        """The users named by ids or names, keyed by the given ref; unknown refs are left out."""
        ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def count_users(self, *, enabled_only: bool = True) -> int:
        """How many users there are (enabled ones only, by default)."""
        ...

    def credentials(self, name: str) -> Credentials | None:
        """The user called ``name`` and their password hash, or ``None``."""
        ...

    def set_password_hash(self, user_id: str, password_hash: str | None, *, by: str) -> None:
        """Replace a user's password hash (``None`` removes password sign-in)."""
        ...

    def set_disabled(self, user_id: str, disabled: bool, *, by: str) -> User:
        """Disable or enable a user."""
        ...

    def create_token(self, token: NewToken, *, by: str) -> ApiToken:
        """Store a token's row (its secret's hash, never the secret)."""
        ...

    def token_by_hash(self, secret_hash: str) -> TokenMatch | None:
        """The token whose secret hashes to ``secret_hash``, with its owner, or ``None``."""
        ...

    def touch_tokens(self, used: Mapping[str, float]) -> None:
        """Record when tokens were last used, many at once: ``{token_id: unix_seconds}``."""
        ...

    def revoke_token(self, token_id: str, *, at: float, by: str) -> ApiToken:
        """Revoke a token and every token made with it, and with those, in one write
        (idempotent: a revoked token keeps its first time)."""
        ...

    def get_tokens(self, token_ids: Sequence[str]) -> dict[str, ApiToken]:
        """Tokens by id; unknown ids are left out."""
        ...

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        """A user's tokens, oldest first, revoked and expired ones included."""
        ...

    def create_project(self, name: str, description: str, *, at: float, by: str) -> ProjectAccess:
        """Create a project, with a ``project.created`` entry; ``ConflictError`` when it exists.

        The result's ``role`` is ``None``: making a project grants nobody a role in it.
        """
        ...

    def set_role(self, project: str, user_id: str, role: Role, *, by: str) -> Membership:
        """Give ``user_id`` ``role`` in ``project`` (replacing any role they had)."""
        ...

    def remove_member(self, project: str, user_id: str, *, by: str) -> bool:
        """Take ``user_id`` out of ``project``; whether they were a member."""
        ...

    def members(self, project: str) -> list[Membership]:
        """A project's members, by user name."""
        ...

    def role_of(self, user_id: str, project: str) -> Role | None:
        """The user's role in the project, or ``None`` (not a member, or no such project)."""
        ...

    def projects(self, user_id: str, *, every: bool = False) -> list[ProjectAccess]:
        """Projects ``user_id`` is a member of, with their role; with ``every``, all projects."""
        ...

    def add_key(self, user_id: str, public_key: str, name: str, *, at: float, by: str) -> UserKey:
        """Register a public key (64 hex digits) for ``user_id``, with a ``user.key_added`` entry.

        Registering a user's active key again returns it unchanged.

        Raises:
            NotFoundError: No such user.
            ConflictError: The key is registered to someone else, or was revoked.
        """
        ...

    def list_keys(self, user_id: str | None = None) -> list[UserKey]:
        """A user's keys (every user's, with ``None``), oldest first, revoked ones included."""
        ...

    def revoke_key(self, key_id: str, *, at: float, by: str) -> UserKey:
        """Revoke a key, with a ``user.key_revoked`` entry (idempotent: it keeps its first time).

        Raises:
            NotFoundError: No such key.
        """
        ...
