"""Users' signing keys in the catalog (``user_keys``), each change with its ledger entry.

``user.key_added`` and ``user.key_revoked`` entries are what ``verify`` learns users' keys from
(see ``key_history``); the table mirrors them so the server can list keys and refuse early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import ConflictError, NotFoundError
from labledger.stores.identity import UserKey
from labledger.workspace import schema
from labledger.workspace.signed_entries import ledger_key_history

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from labledger.workspace.workspace import Workspace

__all__ = ["add_user_key", "list_user_keys", "revoke_user_key"]

_KEYS = schema.user_keys
_USERS = schema.users
_COLUMNS = (
    _KEYS.c.public_key,
    _USERS.c.name.label("user"),
    _KEYS.c.name,
    _KEYS.c.created_at,
    _KEYS.c.revoked_at,
)
_HINT = "see `labledger keys list`"


def _key(row: Row[*tuple[Any, ...]]) -> UserKey:
    return UserKey(row.public_key, row.user, row.name, row.created_at, row.revoked_at)


def _select() -> Any:
    return select(*_COLUMNS).join(_USERS, _USERS.c.id == _KEYS.c.user_id)


def add_user_key(
    ws: Workspace, user_id: str, public_key: str, name: str, *, at: float, by: str
) -> UserKey:
    """Register ``public_key`` for ``user_id`` and write ``user.key_added`` (see the store)."""
    with ws.write() as conn:
        owner = conn.execute(select(_USERS.c.name).where(_USERS.c.id == user_id)).scalar()
        if owner is None:
            raise NotFoundError(f"no user with id {user_id}", hint="see `labledger users list`")
        row = conn.execute(_select().where(_KEYS.c.public_key == public_key)).first()
        if row is not None:
            if row.user == owner and row.revoked_at is None:
                return _key(row)
            raise ConflictError(
                f"the key {public_key[:16]}... was registered before "
                f"({'revoked' if row.revoked_at is not None else 'by another user'})",
                hint="a key is registered once: create a new key pair for a new key",
            )
        _refuse_known(conn, public_key, owner)
        conn.execute(
            _KEYS.insert().values(public_key=public_key, user_id=user_id, name=name, created_at=at)
        )
        payload = {"user": owner, "public_key": public_key, "name": name, "by": by}
        ws.record(conn, "user.key_added", f"key:{public_key}", payload)
    return UserKey(public_key, owner, name, at)


def _refuse_known(conn: Connection, public_key: str, owner: str) -> None:
    """Refuse a key the ledger's own key history already gave to someone else, or revoked."""
    history = ledger_key_history(conn)
    holders = sorted(a for a, keys in history.valid.items() if public_key in keys)
    if public_key in history.revoked or any(a != owner for a in holders):
        raise ConflictError(
            f"the ledger knows the key {public_key[:16]}... already (another actor's, or revoked)",
            hint="create a new key pair for a new key",
        )


def list_user_keys(ws: Workspace, user_id: str | None) -> list[UserKey]:
    """A user's keys, or everyone's, oldest first."""
    query = _select().order_by(_KEYS.c.created_at, _KEYS.c.public_key)
    if user_id is not None:
        query = query.where(_KEYS.c.user_id == user_id)
    with ws.read() as conn:
        return [_key(row) for row in conn.execute(query).all()]


def revoke_user_key(ws: Workspace, key_id: str, *, at: float, by: str) -> UserKey:
    """Revoke a key and write ``user.key_revoked`` (idempotent)."""
    with ws.write() as conn:
        row = conn.execute(_select().where(_KEYS.c.public_key == key_id)).first()
        if row is None:
            raise NotFoundError(f"no key {key_id}", hint=_HINT)
        if row.revoked_at is not None:
            return _key(row)
        conn.execute(_KEYS.update().where(_KEYS.c.public_key == key_id).values(revoked_at=at))
        payload = {"user": row.user, "public_key": key_id, "by": by}
        ws.record(conn, "user.key_revoked", f"key:{key_id}", payload)
    return UserKey(row.public_key, row.user, row.name, row.created_at, at)
