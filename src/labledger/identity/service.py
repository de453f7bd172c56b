"""The identity service: users, passwords, API tokens and project roles, with their rules.

The store keeps rows; this module decides: who may sign in, what a token is worth, which role an
operation needs, and what a non-member may learn (nothing: a project they cannot see does not exist
for them).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger._foundation.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from labledger._foundation.ids import new_id
from labledger.identity.hashing import (
    TOKEN_PREFIX,
    hash_password,
    new_token_secret,
    token_hash,
    verify_password,
)
from labledger.identity.public_keys import parse_public_key
from labledger.stores.identity import (
    ApiToken,
    IdentityStore,
    Membership,
    NewToken,
    NewUser,
    ProjectAccess,
    Role,
    TokenIssuer,
    TokenMatch,
    User,
    UserKey,
    UserMaker,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD",
    "PROJECT_NAME_PATTERN",
    "RESERVED_USER_NAMES",
    "USER_NAME_PATTERN",
    "IdentityService",
    "IssuedToken",
    "higher_role_hint",
    "local_user",
    "no_role_error",
]

USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"
"""What a user name may be: 1-200 letters, digits and ``. _ @ -``, starting with a letter or digit."""
MIN_PASSWORD = 8
MAX_TOKEN_DAYS = 36_500
MAX_TOKEN_LIFETIME_S = MAX_TOKEN_DAYS * 86_400.0
_NAME = re.compile(USER_NAME_PATTERN)
RESERVED_USER_NAMES = frozenset({"workspace"})
"""Names no user may take: ``workspace`` is the actor whose key signs checkpoints, and ``verify``
counts the entries it signed under that name (compared without regard to case)."""
# Every workspace has it (the catalog makes it), so saying it exists tells nobody anything.
DEFAULT_PROJECT = "default"
PROJECT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
_PROJECT_NAME = re.compile(PROJECT_NAME_PATTERN)
MAX_DESCRIPTION = 2_000
# A token's last use is written at most this often, so using a token is not a write per request.
TOUCH_INTERVAL_S = 60.0
_BAD_TOKEN = "the API token is not valid"  # noqa: S105 - not a secret
_TOKEN_HINT = "create a new one with `labledger tokens create`"  # noqa: S105 - not a secret


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: its row and its secret, which is shown this once and never again."""

    token: ApiToken
    secret: str


class IdentityService:
    """Users, passwords, tokens and roles over an ``IdentityStore``.

    Args:
        store: Where identities live (``workspace.stores.identity``).
        clock: Returns the time in Unix seconds (tests pass a fake one).
    """

    def __init__(self, store: IdentityStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- users -------------------------------------------------------------------------------

    def create_user(
        self,
        name: str,
        *,
        by: str,
        display_name: str = "",
        password: str | None = None,
        is_admin: bool = False,
    ) -> User:
        """Create a user, with a password or (``password=None``) for token sign-in only.

        Against a server (a ``UserMaker`` store) the server hashes the password and records
        the signed-in administrator as the maker, whatever ``by`` says.
        """
        if not _NAME.match(name):
            raise ValidationError(
                f"invalid user name {name!r}",
                hint="use 1-200 letters, digits and . _ @ -, starting with a letter or digit",
            )
        if name.casefold() in RESERVED_USER_NAMES:
            raise ValidationError(
                f"the user name {name!r} is reserved: the workspace's own key signs as it",
                hint="pick another name for the user",
            )
        if isinstance(self.store, UserMaker):
            # A server hashes the password and names whoever signed in as the user's maker.
            checked = None if password is None else _checked(password)
            return self.store.make_user(
                name, display_name=display_name, password=checked, is_admin=is_admin
            )
        password_hash = None if password is None else hash_password(_checked(password))
        new = NewUser(new_id(), name, display_name, self._clock(), is_admin)
        return self.store.create_user(new, password_hash=password_hash, by=by)

    def get_user(self, ref: str) -> User:
        """The user with this id or name; ``NotFoundError`` otherwise."""
        found = self.store.get_users([ref]).get(ref)
        if found is None:
            raise NotFoundError(f"no user called {ref!r}", hint="see `labledger users list`")
        return found

    def list_users(self) -> list[User]:
        """Every user, by name."""
        return self.store.list_users()

    def has_users(self) -> bool:
        """Whether any user was ever created, enabled or not (without one, only loopback
        single-user mode works). Disabling every user must not open the workspace again."""
        return self.store.count_users(enabled_only=False) > 0

    def set_password(self, user: str, password: str | None, *, by: str) -> None:
        """Set (or with ``None`` remove) a user's password."""
        target = self.get_user(user)
        hashed = None if password is None else hash_password(_checked(password))
        self.store.set_password_hash(target.id, hashed, by=by)

    def disable_user(self, user: str, *, by: str) -> User:
        """Disable a user: their password and tokens stop working at once."""
        return self.store.set_disabled(self.get_user(user).id, True, by=by)

    # -- authentication ----------------------------------------------------------------------

    def authenticate_password(self, name: str, password: str) -> User:
        """The user whose name and password these are; ``AuthenticationError`` otherwise."""
        found = self.store.credentials(name)
        # One message for every failure: which part was wrong is not the caller's to learn.
        failure = AuthenticationError(
            "wrong user name or password", hint="check both, or sign in with an API token"
        )
        if found is None or found.password_hash is None:
            # Hash anyway so that an unknown name takes as long as a wrong password.
            hash_password(password)
            raise failure
        if not verify_password(found.password_hash, password) or found.user.disabled:
            raise failure
        return found.user

    def authenticate_token(self, secret: str) -> User:
        """The user an API token belongs to; ``AuthenticationError`` if it is wrong or spent."""
        return self.check_token(secret).user

    def check_token(self, secret: str) -> TokenMatch:
        """The API token ``secret`` is, and its user, when it may sign in now.

        Raises:
            AuthenticationError: It is wrong, revoked or expired, or its user is disabled.
        """
        if not secret.startswith(TOKEN_PREFIX):
            raise AuthenticationError(_BAD_TOKEN, hint=f"tokens start with {TOKEN_PREFIX}")
        match = self.store.token_by_hash(token_hash(secret))
        now = self._clock()
        if match is None:
            raise AuthenticationError(_BAD_TOKEN, hint=_TOKEN_HINT)
        if match.token.revoked_at is not None:
            raise AuthenticationError("the API token was revoked", hint=_TOKEN_HINT)
        if match.token.expires_at is not None and now >= match.token.expires_at:
            raise AuthenticationError("the API token has expired", hint=_TOKEN_HINT)
        if match.user.disabled:
            raise AuthenticationError(
                f"user {match.user.name} is disabled", hint="ask an administrator"
            )
        self._note_use(match.token.id, now)
        return match

    def _note_use(self, token_id: str, now: float) -> None:
        with self._lock:
            last = self._touched.get(token_id)
            if last is not None and now - last < TOUCH_INTERVAL_S:
                return
            self._touched[token_id] = now
        self.store.touch_tokens({token_id: now})

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(
        self,
        user: str,
        name: str,
        *,
        by: str,
        expires_in_s: float | None = None,
        made_with: str | None = None,
    ) -> IssuedToken:
        """Make an API token for ``user``; the secret in the result is shown once, never stored.

        ``made_with`` is the id of the token the request that asks for it signed in with:
        revoking that one revokes this one too.
        """
        owner = self.get_user(user)
        if owner.disabled:
            raise ValidationError(f"user {owner.name} is disabled", hint="enable them first")
        if not name or len(name) > 200 or not name.isprintable():
            raise ValidationError(
                f"invalid token name {name!r}", hint="use 1-200 printable characters"
            )
        if expires_in_s is not None and not 0 < expires_in_s <= MAX_TOKEN_LIFETIME_S:
            raise ValidationError(
                f"a token's lifetime must be more than 0 and at most {MAX_TOKEN_DAYS:,} days",
                hint="leave the expiry out for a token that never expires",
            )
        if isinstance(self.store, TokenIssuer):
            # A server makes the secret and keeps its hash.
            made, secret = self.store.issue_token(owner.id, name, expires_in_s=expires_in_s)
            return IssuedToken(made, secret)
        secret = new_token_secret()
        now = self._clock()
        expires = None if expires_in_s is None else now + expires_in_s
        row = NewToken(new_id(), owner.id, name, token_hash(secret), now, expires, made_with)
        return IssuedToken(self.store.create_token(row, by=by), secret)

    def token_of(self, secret: str) -> ApiToken | None:
        """The token whose secret is ``secret``, or ``None``."""
        match = self.store.token_by_hash(token_hash(secret))
        return None if match is None else match.token

    def lifetime_left(self, token: ApiToken) -> float | None:
        """Seconds until ``token`` expires; ``None`` when it never does."""
        return None if token.expires_at is None else token.expires_at - self._clock()

    def list_tokens(self, user: str) -> list[ApiToken]:
        """A user's tokens (never their secrets)."""
        return self.store.list_tokens(self.get_user(user).id)

    def revoke_token(self, token_id: str, *, actor: User) -> ApiToken:
        """Revoke a token: its owner may, and so may an admin; to anyone else it does not exist."""
        token = self.store.get_tokens([token_id]).get(token_id)
        if token is None or (token.user_id != actor.id and not actor.is_admin):
            raise NotFoundError(f"no token with id {token_id}", hint="see `labledger tokens list`")
        return self.store.revoke_token(token_id, at=self._clock(), by=actor.name)

    # -- signing keys ------------------------------------------------------------------------

    def add_key(self, user: str, public_key: str, *, name: str = "", by: str) -> UserKey:
        """Register ``user``'s Ed25519 public key (64 hex digits) for signing their entries.

        Raises:
            ValidationError: The key is not an Ed25519 public key, or the name is unprintable.
            ConflictError: The key was registered to someone else, or revoked.
        """
        owner = self.get_user(user)
        if len(name) > 200 or not name.isprintable():
            raise ValidationError(
                f"invalid key name {name!r}", hint="use at most 200 printable characters"
            )
        key = parse_public_key(public_key)
        return self.store.add_key(owner.id, key, name, at=self._clock(), by=by)

    def list_keys(self, user: str | None = None) -> list[UserKey]:
        """``user``'s registered keys, or every user's with ``None``, revoked ones included."""
        return self.store.list_keys(None if user is None else self.get_user(user).id)

    def revoke_key(self, key_id: str, *, actor: User) -> UserKey:
        """Revoke a key: its owner may, and so may an admin; to anyone else it does not exist."""
        scope = None if actor.is_admin else actor.id
        found = next((k for k in self.store.list_keys(scope) if k.id == key_id.lower()), None)
        if found is None:
            raise NotFoundError(f"no key {key_id}", hint="see `labledger keys list`")
        return self.store.revoke_key(found.id, at=self._clock(), by=actor.name)

    # -- roles -------------------------------------------------------------------------------

    def role_in(self, user: User, project: str) -> Role | None:
        """The role ``user`` acts with in ``project``: admins are admins everywhere."""
        if user.is_admin:
            if not any(p.name == project for p in self.store.projects(user.id, every=True)):
                return None
            return Role.ADMIN
        return self.store.role_of(user.id, project)

    def require(self, user: User, project: str, needed: Role) -> Role:
        """Check that ``user`` may act as ``needed`` in ``project``, and return their role.

        Raises:
            NotFoundError: The project does not exist, or the user is no member: either way they
                learn nothing about it.
            PermissionDeniedError: The user is a member with a lesser role.
        """
        role = self.role_in(user, project)
        if role is None:
            raise no_role_error(user.name, project)
        if not role.allows(needed):
            raise PermissionDeniedError(
                f"{user.name} is {role.value} in {project}; this needs {needed.value}",
                hint=higher_role_hint(user.name, needed.value, project),
            )
        return role

    def visible_projects(self, user: User) -> list[ProjectAccess]:
        """The projects ``user`` may see: their own, or every project for an admin."""
        return self.store.projects(user.id, every=user.is_admin)

    def create_project(self, name: str, *, actor: User, description: str = "") -> ProjectAccess:
        """Create project ``name``; only a workspace administrator may.

        Nobody gets a role in it by this: grant roles next (``grant``).

        Raises:
            PermissionDeniedError: ``actor`` is no administrator.
            ValidationError: The name or description is not acceptable.
            ConflictError: A project of that name exists already.
        """
        if not actor.is_admin:
            raise PermissionDeniedError(
                f"{actor.name} may not create projects: that needs a workspace administrator",
                hint="ask an administrator to run `labledger projects create NAME`",
            )
        if not _PROJECT_NAME.fullmatch(name):
            raise ValidationError(
                f"invalid project name {name!r}",
                hint="use 1-200 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        if len(description) > MAX_DESCRIPTION or not description.isprintable():
            raise ValidationError(
                "a project's description must be printable text on one line",
                hint=f"use at most {MAX_DESCRIPTION:,} characters",
            )
        return self.store.create_project(name, description, at=self._clock(), by=actor.name)

    def grant(self, project: str, user: str, role: Role, *, actor: User) -> Membership:
        """Give ``user`` ``role`` in ``project``; ``actor`` must be a project admin."""
        self.require(actor, project, Role.ADMIN)
        return self.store.set_role(project, self.get_user(user).id, role, by=actor.name)

    def revoke_role(self, project: str, user: str, *, actor: User) -> bool:
        """Take ``user`` out of ``project``; ``actor`` must be a project admin."""
        self.require(actor, project, Role.ADMIN)
        target = self.get_user(user)
        if target.id == actor.id and not actor.is_admin:
            raise ConflictError(
                "project admins cannot remove themselves", hint="ask another admin to do it"
            )
        return self.store.remove_member(project, target.id, by=actor.name)

    def members(self, project: str, *, actor: User) -> list[Membership]:
        """A project's members, for anyone who may view it."""
        self.require(actor, project, Role.VIEWER)
        return self.store.members(project)


def no_role_error(user: str, project: str) -> NotFoundError:
    """The error for ``user`` acting in ``project`` where they hold no role.

    A project they are no member of answers like one that does not exist, so that nobody learns
    which projects there are; ``default`` is on every workspace, so there the error says plainly
    what is missing and how to get it.
    """
    if project == DEFAULT_PROJECT:
        return NotFoundError(
            f"{user} has no role in project {project!r}",
            hint=f"ask an admin: labledger projects grant {user} viewer --project {project}",
        )
    return NotFoundError(f"no project called {project!r}", hint="see `labledger projects list`")


def higher_role_hint(user: str, needed: str, project: str | None = None) -> str:
    """What ``user``, whose role falls short of ``needed`` (in ``project``), can do about it."""
    where = project or "PROJECT"
    return (
        f"ask a project admin or a workspace administrator: "
        f"labledger projects grant {user} {needed} --project {where}"
    )


def local_user(name: str) -> User:
    """Whoever runs labledger on the workspace's own machine, acting as an administrator.

    The CLI acts so (reaching the catalog directly means holding it already), and so does a
    loopback server in single-user mode.
    """
    return User(id="local", name=name, display_name=name, created_at=0.0, is_admin=True)


def _checked(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationError("the password is too short", hint="use at least 8 characters")
    if len(password) > 1024:
        raise ValidationError("the password is too long", hint="use at most 1024 characters")
    return password
