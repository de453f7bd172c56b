"""The SQL ``IdentityStore`` (SQLAlchemy Core; SQLite and PostgreSQL alike).

Each write is one transaction holding its rows and its ledger entry. Ledger payloads name who did
what to whom; they never hold a password hash, a token secret or a token's hash (a token's entry
holds a fingerprint of its hash, ``token_hash_fingerprint``, and a user's ``user.created`` and
``user.password_set`` one of the password hash the row keeps, ``password_hash_fingerprint``, or
``null`` for none; ``verify`` holds the rows to them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from labledger._foundation.errors import AuthenticationError, ConflictError, NotFoundError
from labledger._foundation.ids import new_id
from labledger.stores.identity import (
    ApiToken,
    Credentials,
    Membership,
    NewToken,
    NewUser,
    ProjectAccess,
    Role,
    TokenMatch,
    User,
    UserKey,
    password_hash_fingerprint,
    token_hash_fingerprint,
)
from labledger.workspace import schema
from labledger.workspace.sql.user_keys import add_user_key, list_user_keys, revoke_user_key
from labledger.workspace.sqlite_driver import driver_connection

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Connection, Row

    from labledger.workspace.workspace import Workspace

__all__ = ["SqlIdentityStore"]

_SQLITE_COUNT = 'SELECT count(*) FROM "users"'
_SQLITE_COUNT_ENABLED = _SQLITE_COUNT + " WHERE NOT disabled"

_USERS = schema.users
_TOKENS = schema.api_tokens
_MAX_LINEAGE = 1000  # tokens made with tokens, as deep as is checked
_MEMBERS = schema.project_members
_PROJECTS = schema.projects


def _user(row: Row[*tuple[Any, ...]]) -> User:
    return User(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        created_at=row.created_at,
        disabled=bool(row.disabled),
        is_admin=bool(row.is_admin),
    )


def _token(row: Row[*tuple[Any, ...]]) -> ApiToken:
    return ApiToken(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


_USER_COLUMNS = (
    _USERS.c.id,
    _USERS.c.name,
    _USERS.c.display_name,
    _USERS.c.created_at,
    _USERS.c.disabled,
    _USERS.c.is_admin,
)
_TOKEN_COLUMNS = (
    _TOKENS.c.id,
    _TOKENS.c.user_id,
    _TOKENS.c.name,
    _TOKENS.c.created_at,
    _TOKENS.c.expires_at,
    _TOKENS.c.revoked_at,
    _TOKENS.c.last_used_at,
)


class SqlIdentityStore:
    """Users, API tokens and project roles in the catalog database.

    Args:
        workspace: The workspace whose catalog and ledger hold them.
    """

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    # -- users -------------------------------------------------------------------------------

    def create_user(self, user: NewUser, *, password_hash: str | None, by: str) -> User:
        row = {
            "id": user.id,
            "name": user.name,
            "display_name": user.display_name,
            "password_hash": password_hash,
            "is_admin": user.is_admin,
            "disabled": False,
            "created_at": user.created_at,
        }
        try:
            with self._ws.write() as conn:
                if conn.execute(select(_USERS.c.id).where(_USERS.c.name == user.name)).first():
                    raise ConflictError(
                        f"a user called {user.name!r} exists already",
                        hint="choose another name, or see `labledger users list`",
                    )
                conn.execute(_USERS.insert().values(row))
                payload = {
                    "name": user.name,
                    "display_name": user.display_name,
                    "is_admin": user.is_admin,
                    "by": by,
                    "hash_fingerprint": password_hash_fingerprint(password_hash),
                }
                self._ws.record(conn, "user.created", user.id, payload)
        except SqlIntegrityError as exc:
            # Two creators raced past the check above; the unique index decided.
            raise ConflictError(f"a user called {user.name!r} exists already") from exc
        return User(user.id, user.name, user.display_name, user.created_at, False, user.is_admin)

    def get_users(self, refs: Sequence[str]) -> dict[str, User]:
        wanted = list(dict.fromkeys(refs))
        if not wanted:
            return {}
        with self._ws.read() as conn:
            rows = conn.execute(
                select(*_USER_COLUMNS).where(_USERS.c.id.in_(wanted) | _USERS.c.name.in_(wanted))
            ).all()
        found: dict[str, User] = {}
        for row in rows:
            user = _user(row)
            for key in (user.id, user.name):
                if key in wanted:
                    found[key] = user
        return found

    def list_users(self) -> list[User]:
        with self._ws.read() as conn:
            rows = conn.execute(select(*_USER_COLUMNS).order_by(_USERS.c.name)).all()
        return [_user(row) for row in rows]

    def count_users(self, *, enabled_only: bool = True) -> int:
        # Asked on every request of a single-user server (see ``server.access``): on SQLite it
        # goes straight to the driver.
        with self._ws.read() as conn:
            db = driver_connection(conn)
            if db is not None:
                sql = _SQLITE_COUNT_ENABLED if enabled_only else _SQLITE_COUNT
                return int(db.execute(sql).fetchone()[0])
            query = select(func.count()).select_from(_USERS)
            if enabled_only:
                query = query.where(_USERS.c.disabled.is_(False))
            return int(conn.execute(query).scalar_one())

    def credentials(self, name: str) -> Credentials | None:
        with self._ws.read() as conn:
            row = conn.execute(
                select(*_USER_COLUMNS, _USERS.c.password_hash).where(_USERS.c.name == name)
            ).first()
        return None if row is None else Credentials(_user(row), row.password_hash)

    def set_password_hash(self, user_id: str, password_hash: str | None, *, by: str) -> None:
        with self._ws.write() as conn:
            self._require_user(conn, user_id)
            conn.execute(
                _USERS.update().where(_USERS.c.id == user_id).values(password_hash=password_hash)
            )
            payload = {
                "password": password_hash is not None,
                "by": by,
                "hash_fingerprint": password_hash_fingerprint(password_hash),
            }
            self._ws.record(conn, "user.password_set", user_id, payload)

    def set_disabled(self, user_id: str, disabled: bool, *, by: str) -> User:
        with self._ws.write() as conn:
            self._require_user(conn, user_id)
            conn.execute(_USERS.update().where(_USERS.c.id == user_id).values(disabled=disabled))
            kind = "user.disabled" if disabled else "user.enabled"
            self._ws.record(conn, kind, user_id, {"by": by})
            row = conn.execute(select(*_USER_COLUMNS).where(_USERS.c.id == user_id)).one()
        return _user(row)

    @staticmethod
    def _require_user(conn: Connection, user_id: str) -> str:
        name = conn.execute(select(_USERS.c.name).where(_USERS.c.id == user_id)).scalar()
        if name is None:
            raise NotFoundError(f"no user with id {user_id}", hint="see `labledger users list`")
        return str(name)

    # -- signing keys ------------------------------------------------------------------------

    def add_key(self, user_id: str, public_key: str, name: str, *, at: float, by: str) -> UserKey:
        return add_user_key(self._ws, user_id, public_key, name, at=at, by=by)

    def list_keys(self, user_id: str | None = None) -> list[UserKey]:
        return list_user_keys(self._ws, user_id)

    def revoke_key(self, key_id: str, *, at: float, by: str) -> UserKey:
        return revoke_user_key(self._ws, key_id, at=at, by=by)

    # -- tokens ------------------------------------------------------------------------------

    def create_token(self, token: NewToken, *, by: str) -> ApiToken:
        with self._ws.write() as conn:
            owner = self._require_user(conn, token.user_id)
            if token.parent_id is not None:
                _require_live_lineage(conn, token.parent_id)
            conn.execute(
                _TOKENS.insert().values(
                    id=token.id,
                    user_id=token.user_id,
                    name=token.name,
                    secret_hash=token.secret_hash,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    parent_id=token.parent_id,
                )
            )
            payload = {
                "user": owner,
                "name": token.name,
                "expires_at": token.expires_at,
                "by": by,
                "hash_fingerprint": token_hash_fingerprint(token.secret_hash),
            }
            if token.parent_id is not None:
                payload["made_with"] = token.parent_id
            self._ws.record(conn, "token.created", token.id, payload)
        return ApiToken(token.id, token.user_id, token.name, token.created_at, token.expires_at)

    def token_by_hash(self, secret_hash: str) -> TokenMatch | None:
        # An equality lookup on an indexed hash: the database compares hashes of secrets, so the
        # time it takes tells an attacker nothing about the secret (they would need a SHA-256
        # preimage), and no constant-time comparison is needed here.
        query = (
            select(*_TOKEN_COLUMNS, *(c.label(f"u_{c.name}") for c in _USER_COLUMNS))
            .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
            .where(_TOKENS.c.secret_hash == secret_hash)
        )
        with self._ws.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        user = User(
            id=row.u_id,
            name=row.u_name,
            display_name=row.u_display_name,
            created_at=row.u_created_at,
            disabled=bool(row.u_disabled),
            is_admin=bool(row.u_is_admin),
        )
        return TokenMatch(_token(row), user)

    def touch_tokens(self, used: Mapping[str, float]) -> None:
        if not used:
            return
        from sqlalchemy import bindparam

        statement = (
            _TOKENS.update()
            .where(_TOKENS.c.id == bindparam("token_id"))
            .values(last_used_at=bindparam("used_at"))
        )
        with self._ws.write() as conn:
            conn.execute(
                statement, [{"token_id": k, "used_at": at} for k, at in sorted(used.items())]
            )

    def revoke_token(self, token_id: str, *, at: float, by: str) -> ApiToken:
        with self._ws.write() as conn:
            row = conn.execute(select(*_TOKEN_COLUMNS).where(_TOKENS.c.id == token_id)).first()
            if row is None:
                raise NotFoundError(
                    f"no token with id {token_id}", hint="see `labledger tokens list`"
                )
            if row.revoked_at is None:
                conn.execute(_TOKENS.update().where(_TOKENS.c.id == token_id).values(revoked_at=at))
                self._ws.record(conn, "token.revoked", token_id, {"name": row.name, "by": by})
            # Every token made with it, and with those (tokens made before the link was kept
            # have none): a leaked token leaves nothing behind that outlives its revocation.
            frontier = [token_id]
            while frontier:
                children = conn.execute(
                    select(_TOKENS.c.id, _TOKENS.c.name, _TOKENS.c.revoked_at).where(
                        _TOKENS.c.parent_id.in_(frontier)
                    )
                ).all()
                for child in children:
                    if child.revoked_at is None:
                        conn.execute(
                            _TOKENS.update().where(_TOKENS.c.id == child.id).values(revoked_at=at)
                        )
                        payload = {"name": child.name, "by": by, "with": token_id}
                        self._ws.record(conn, "token.revoked", child.id, payload)
                frontier = [child.id for child in children]
            row = conn.execute(select(*_TOKEN_COLUMNS).where(_TOKENS.c.id == token_id)).one()
        return _token(row)

    def get_tokens(self, token_ids: Sequence[str]) -> dict[str, ApiToken]:
        if not token_ids:
            return {}
        with self._ws.read() as conn:
            rows = conn.execute(
                select(*_TOKEN_COLUMNS).where(_TOKENS.c.id.in_(list(token_ids)))
            ).all()
        return {row.id: _token(row) for row in rows}

    def list_tokens(self, user_id: str) -> list[ApiToken]:
        with self._ws.read() as conn:
            rows = conn.execute(
                select(*_TOKEN_COLUMNS)
                .where(_TOKENS.c.user_id == user_id)
                .order_by(_TOKENS.c.created_at, _TOKENS.c.id)
            ).all()
        return [_token(row) for row in rows]

    # -- project roles -----------------------------------------------------------------------

    @staticmethod
    def _project_id(conn: Connection, project: str) -> str:
        found = conn.execute(select(_PROJECTS.c.id).where(_PROJECTS.c.name == project)).scalar()
        if found is None:
            raise NotFoundError(
                f"no project called {project!r}", hint="see `labledger projects list`"
            )
        return str(found)

    def create_project(self, name: str, description: str, *, at: float, by: str) -> ProjectAccess:
        project_id = new_id()
        row = {"id": project_id, "name": name, "description": description, "created_at": at}
        exists = ConflictError(
            f"a project called {name!r} exists already",
            hint="choose another name, or see `labledger projects list`",
        )
        try:
            with self._ws.write() as conn:
                if conn.execute(select(_PROJECTS.c.id).where(_PROJECTS.c.name == name)).first():
                    raise exists
                conn.execute(_PROJECTS.insert().values(row))
                payload = {"name": name, "description": description, "by": by}
                self._ws.record(conn, "project.created", project_id, payload)
        except SqlIntegrityError as exc:
            # Two creators raced past the check above; the unique index decided.
            raise exists from exc
        return ProjectAccess(project_id, name, description, at, None)

    def set_role(self, project: str, user_id: str, role: Role, *, by: str) -> Membership:
        import time

        now = time.time()
        with self._ws.write() as conn:
            project_id = self._project_id(conn, project)
            user = self._require_user(conn, user_id)
            key = (_MEMBERS.c.project_id == project_id) & (_MEMBERS.c.user_id == user_id)
            before = conn.execute(select(_MEMBERS.c.role).where(key)).scalar()
            values = {"role": role.value, "granted_at": now, "granted_by": by}
            if before is None:
                conn.execute(
                    _MEMBERS.insert().values(project_id=project_id, user_id=user_id, **values)
                )
            else:
                conn.execute(_MEMBERS.update().where(key).values(**values))
            payload = {"project": project, "user": user, "role": role.value, "before": before}
            self._ws.record(conn, "role.changed", project_id, {**payload, "by": by})
        return Membership(project, user, role, now, by)

    def remove_member(self, project: str, user_id: str, *, by: str) -> bool:
        with self._ws.write() as conn:
            project_id = self._project_id(conn, project)
            user = self._require_user(conn, user_id)
            key = (_MEMBERS.c.project_id == project_id) & (_MEMBERS.c.user_id == user_id)
            before = conn.execute(select(_MEMBERS.c.role).where(key)).scalar()
            if before is None:
                return False
            conn.execute(_MEMBERS.delete().where(key))
            payload = {"project": project, "user": user, "role": None, "before": before}
            self._ws.record(conn, "role.changed", project_id, {**payload, "by": by})
        return True

    def members(self, project: str) -> list[Membership]:
        query = (
            select(_USERS.c.name, _MEMBERS.c.role, _MEMBERS.c.granted_at, _MEMBERS.c.granted_by)
            .join(_USERS, _USERS.c.id == _MEMBERS.c.user_id)
            .join(_PROJECTS, _PROJECTS.c.id == _MEMBERS.c.project_id)
            .where(_PROJECTS.c.name == project)
            .order_by(_USERS.c.name)
        )
        with self._ws.read() as conn:
            rows = conn.execute(query).all()
        return [Membership(project, r.name, Role(r.role), r.granted_at, r.granted_by) for r in rows]

    def role_of(self, user_id: str, project: str) -> Role | None:
        query = (
            select(_MEMBERS.c.role)
            .join(_PROJECTS, _PROJECTS.c.id == _MEMBERS.c.project_id)
            .where(_PROJECTS.c.name == project, _MEMBERS.c.user_id == user_id)
        )
        with self._ws.read() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else Role(found)

    def projects(self, user_id: str, *, every: bool = False) -> list[ProjectAccess]:
        columns = (
            _PROJECTS.c.id,
            _PROJECTS.c.name,
            _PROJECTS.c.description,
            _PROJECTS.c.created_at,
            _MEMBERS.c.role,
        )
        mine = (_MEMBERS.c.project_id == _PROJECTS.c.id) & (_MEMBERS.c.user_id == user_id)
        query = (
            select(*columns).outerjoin(_MEMBERS, mine)
            if every
            else select(*columns).join(_MEMBERS, mine)
        )
        with self._ws.read() as conn:
            rows = conn.execute(query.order_by(_PROJECTS.c.name)).all()
        return [
            ProjectAccess(
                r.id, r.name, r.description, r.created_at, None if r.role is None else Role(r.role)
            )
            for r in rows
        ]


def _require_live_lineage(conn: Connection, parent_id: str) -> None:
    """Refuse a token made with ``parent_id`` when that token, or one it was made with, is
    revoked: checked in the write that inserts it, with the parent's row locked against a
    revocation in flight (PostgreSQL; SQLite writes one at a time), so no token made with a
    revoked one escapes its revocation.

    Raises:
        AuthenticationError: A token of the lineage is revoked (or gone).
    """
    current: str | None = parent_id
    for depth in range(_MAX_LINEAGE):
        query = select(_TOKENS.c.parent_id, _TOKENS.c.revoked_at).where(_TOKENS.c.id == current)
        if depth == 0 and conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        row = conn.execute(query).first()
        if row is None or row.revoked_at is not None:
            raise AuthenticationError(
                "the API token is not valid", hint="create a new one with `labledger tokens create`"
            )
        current = row.parent_id
        if current is None:
            return
