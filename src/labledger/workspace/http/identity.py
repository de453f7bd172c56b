"""``HttpIdentityStore``: the parts of a server's ``IdentityStore`` its routes expose.

Users are created, listed and read (``/api/v1/users``, administrators only: the server hashes
the password it receives), projects' members read and
changed (``/api/v1/projects``), and signing keys registered, listed and revoked
(``/api/v1/me/keys``; anyone's through ``/api/v1/keys``, administrators only). The signed-in user makes their own API tokens
(``POST /api/v1/tokens``: the server makes the secret and keeps its hash). Password hashes, token
hashes and token bookkeeping stay on the server: those methods refuse with a ``ConfigurationError``
(manage them with the server's own CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from pydantic import BaseModel

from labledger._foundation.errors import ConfigurationError, NotFoundError, PermissionDeniedError
from labledger.stores.identity import ApiToken, Membership, ProjectAccess, Role, User, UserKey

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from labledger.stores.identity import Credentials, NewToken, NewUser, TokenMatch
    from labledger.workspace.http.client import Client

__all__ = ["HttpIdentityStore", "host_only"]


class _UserPage(BaseModel):
    items: list[User]
    next_page_token: str | None


class _TokenPage(BaseModel):
    items: list[ApiToken]
    next_page_token: str | None


class _ProjectPage(BaseModel):
    items: list[ProjectAccess]
    next_page_token: str | None


class _MemberPage(BaseModel):
    items: list[Membership]
    next_page_token: str | None


class _KeyPage(BaseModel):
    items: list[UserKey]
    next_page_token: str | None


class _NewToken(BaseModel):
    name: str
    expires_in_days: float | None


class _IssuedToken(BaseModel):
    token: ApiToken
    secret: str


class _NewProject(BaseModel):
    name: str
    description: str


class _NewUser(BaseModel):
    name: str
    display_name: str
    password: str | None
    is_admin: bool


class _NewKey(BaseModel):
    public_key: str
    name: str


def host_only(what: str) -> ConfigurationError:
    """The error for ``what``, which is done where a server's workspace is, not through it."""
    return ConfigurationError(
        f"{what} cannot be done through a server, only where its workspace is",
        hint="run the same command on the server's machine with LABLEDGER_URI set to the "
        "catalog itself (the database URL or the folder), not to the server's URL",
    )


class HttpIdentityStore:
    """Users and project roles as a labledger server shows them to the signed-in user."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _refuse(self, what: str) -> NoReturn:
        raise host_only(what)

    def _pages(self, route: str, model: Any, **query: str) -> list[Any]:
        items: list[Any] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": 1000, **query}
            if token is not None:
                params["page_token"] = token
            page = self._client.call("GET", route, model=model, params=params)
            items.extend(page.items)
            token = page.next_page_token
            if token is None:
                return items

    def list_users(self) -> list[User]:
        return self._pages("/api/v1/users", _UserPage)

    def get_users(self, refs: Sequence[str]) -> dict[str, User]:
        wanted = set(refs)
        me: User = self._client.call("GET", "/api/v1/me", model=User)
        found = {ref: me for ref in wanted & {me.id, me.name}}
        # Anyone may read themselves; other users are for administrators, one request each.
        for ref in sorted(wanted - found.keys()):
            try:
                found[ref] = self._client.call(
                    "GET", f"/api/v1/users/{quote(ref, safe='')}", model=User
                )
            except NotFoundError:
                continue
        return found

    def count_users(self, *, enabled_only: bool = True) -> int:
        return sum(1 for u in self.list_users() if not (enabled_only and u.disabled))

    def projects(self, user_id: str, *, every: bool = False) -> list[ProjectAccess]:
        return self._pages("/api/v1/projects", _ProjectPage)

    def create_project(self, name: str, description: str, *, at: float, by: str) -> ProjectAccess:
        # The server creates it as the signed-in user (administrators only), at its own time.
        body = _NewProject(name=name, description=description)
        made: ProjectAccess = self._client.call("POST", "/api/v1/projects", body, ProjectAccess)
        return made

    def members(self, project: str) -> list[Membership]:
        return self._pages(f"/api/v1/projects/{quote(project, safe='')}/members", _MemberPage)

    def role_of(self, user_id: str, project: str) -> Role | None:
        return next((m.role for m in self.members(project) if m.user == user_id), None)

    def set_role(self, project: str, user_id: str, role: Role, *, by: str) -> Membership:
        route = f"/api/v1/projects/{quote(project, safe='')}/members/{quote(user_id, safe='')}"
        member: Membership = self._client.call(
            "PUT", route, {"role": role.value}, Membership, idempotent=True
        )
        return member

    def remove_member(self, project: str, user_id: str, *, by: str) -> bool:
        route = f"/api/v1/projects/{quote(project, safe='')}/members/{quote(user_id, safe='')}"
        self._client.call("DELETE", route)
        return True

    def make_user(
        self, name: str, *, display_name: str, password: str | None, is_admin: bool
    ) -> User:
        # The server hashes the password (argon2) and names the signed-in administrator as the
        # maker. Not retried: a second try after a lost answer would meet the first (409).
        body = _NewUser(name=name, display_name=display_name, password=password, is_admin=is_admin)
        made: User = self._client.call("POST", "/api/v1/users", body, User)
        return made

    def create_user(self, user: NewUser, *, password_hash: str | None, by: str) -> User:
        self._refuse("creating users with a password hash")

    def credentials(self, name: str) -> Credentials | None:
        self._refuse("a user's password hash")

    def set_password_hash(self, user_id: str, password_hash: str | None, *, by: str) -> None:
        raise ConfigurationError(
            "passwords are set where the server's workspace is, not through the server",
            hint="run `labledger users password NAME` there (in its folder, or with -w its "
            "database URL)",
        )

    def set_disabled(self, user_id: str, disabled: bool, *, by: str) -> User:
        self._refuse("disabling users")

    def create_token(self, token: NewToken, *, by: str) -> ApiToken:
        self._refuse("a token's hash")

    def issue_token(
        self, user_id: str, name: str, *, expires_in_s: float | None
    ) -> tuple[ApiToken, str]:
        # The server makes it for the signed-in user, so only they may ask. Not retried: a second try after a lost answer would make a second token.
        if user_id != self._my_id():
            self._refuse("making another user's token")
        days = None if expires_in_s is None else expires_in_s / 86_400.0
        body = _NewToken(name=name, expires_in_days=days)
        issued: _IssuedToken = self._client.call("POST", "/api/v1/tokens", body, _IssuedToken)
        return issued.token, issued.secret

    def token_by_hash(self, secret_hash: str) -> TokenMatch | None:
        self._refuse("looking tokens up by hash")

    def touch_tokens(self, used: Mapping[str, float]) -> None:
        self._refuse("token bookkeeping")

    def revoke_token(self, token_id: str, *, at: float, by: str) -> ApiToken:
        # The server revokes it as the signed-in user (an administrator may revoke anyone's).
        revoked: ApiToken = self._client.call(
            "DELETE", f"/api/v1/tokens/{quote(token_id, safe='')}", model=ApiToken
        )
        return revoked

    def _my_id(self) -> str:
        me: User = self._client.call("GET", "/api/v1/me", model=User)
        return me.id

    def get_tokens(self, token_ids: Sequence[str]) -> dict[str, ApiToken]:
        # The server shows the signed-in user their own tokens only.
        wanted = set(token_ids)
        return {t.id: t for t in self._pages("/api/v1/tokens", _TokenPage) if t.id in wanted}

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        if user_id != self._my_id():
            self._refuse("another user's tokens")
        return list(self._pages("/api/v1/tokens", _TokenPage))

    def add_key(self, user_id: str, public_key: str, name: str, *, at: float, by: str) -> UserKey:
        # The server registers it for the signed-in user, at its own time.
        if user_id != self._my_id():
            self._refuse("registering another user's key")
        added: UserKey = self._client.call(
            "POST", "/api/v1/me/keys", _NewKey(public_key=public_key, name=name), model=UserKey
        )
        return added

    def list_keys(self, user_id: str | None = None) -> list[UserKey]:
        if user_id is not None and user_id == self._my_id():
            return list(self._pages("/api/v1/me/keys", _KeyPage))
        query = {} if user_id is None else {"user": user_id}
        return list(self._pages("/api/v1/keys", _KeyPage, **query))

    def revoke_key(self, key_id: str, *, at: float, by: str) -> UserKey:
        # One's own key through /me/keys; anyone else's through /keys (administrators only).
        route = quote(key_id, safe="")
        try:
            mine: UserKey = self._client.call("DELETE", f"/api/v1/me/keys/{route}", model=UserKey)
        except NotFoundError as missing:
            try:
                theirs: UserKey = self._client.call(
                    "DELETE", f"/api/v1/keys/{route}", model=UserKey
                )
            except PermissionDeniedError:
                raise missing from None
            return theirs
        return mine
