"""Users and roles as the ledger's entries leave them, held against the catalog's rows.

Every change to who may do what is an entry: ``user.created`` (subject the user's id; payload
``name``, ``is_admin``), ``user.disabled`` and ``user.enabled`` (subject the user's id), and
``role.changed`` (subject the project's id; payload ``user``, the user's name, and ``role``, or
``null`` once removed). Replayed in append order they give each user's administrator flag and
whether they are disabled, and every role in every project; a row that says otherwise (a viewer
made admin in the database, a disabled user enabled again) was changed outside labledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.ledger import LedgerEntry

__all__ = ["IdentityReplay"]


@dataclass(slots=True)
class IdentityReplay:
    """Users and roles, as the entries walked so far leave them."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, flags
    roles: dict[tuple[str, str], str] = field(default_factory=dict)  # (project, user) -> role

    def visit(self, entry: LedgerEntry) -> None:
        """Note a ``user.*`` or ``role.changed`` entry."""
        kind, payload, subject = entry.kind, entry.payload, entry.subject
        if kind == "user.created":
            self.users[subject] = {
                "name": payload.get("name"),
                "is_admin": bool(payload.get("is_admin")),
                "disabled": False,
            }
        elif kind in ("user.disabled", "user.enabled") and subject in self.users:
            self.users[subject]["disabled"] = kind == "user.disabled"
        elif kind == "role.changed":
            key = (subject, str(payload.get("user")))
            role = payload.get("role")
            if role is None:
                self.roles.pop(key, None)
            else:
                self.roles[key] = str(role)

    def problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        """``(kind, id, reason)`` for each user or role row the entries do not leave so."""
        u, m = schema.users, schema.project_members
        found: list[tuple[str, str, str]] = []
        for user_id, name, is_admin, disabled in conn.execute(
            select(u.c.id, u.c.name, u.c.is_admin, u.c.disabled)
        ):
            said = self.users.get(user_id)
            if said is None:
                found.append(("user", name, "no user.created entry vouches for this user"))
                continue
            row = {"name": name, "is_admin": bool(is_admin), "disabled": bool(disabled)}
            found += [
                ("user", name, f"its {column} reads {row[column]!r}, but the ledger leaves "
                 f"{said[column]!r}")
                for column in ("name", "is_admin", "disabled")
                if row[column] != said[column]
            ]  # fmt: skip
        rows = {
            (project_id, user): str(role)
            for project_id, user, role in conn.execute(
                select(m.c.project_id, u.c.name, m.c.role).join(u, u.c.id == m.c.user_id)
            )
        }
        for key in sorted(set(rows) | set(self.roles)):
            held, said = rows.get(key), self.roles.get(key)
            if held != said:
                project_id, user = key
                found.append(
                    (
                        "role",
                        f"{user}@{project_id}",
                        f"{user} is {held or 'no member'} in project {project_id}, but the "
                        f"role.changed entries leave {said or 'no role'}",
                    )
                )
        return found
