"""Users, roles, tokens, projects and signing keys as the ledger's entries leave them, held
against the catalog's rows.

Every change to who may do what is an entry: ``user.created`` (subject the user's id; payload
``name``, ``is_admin`` and, each since it was added, ``display_name`` and ``hash_fingerprint``:
a fingerprint of the user's stored password hash, ``password_hash_fingerprint``, or ``null`` for
a user without a password), ``user.password_set`` (``hash_fingerprint`` likewise, since it was added),
``user.disabled`` and ``user.enabled``, ``role.changed`` (subject the project's id; payload
``user``, the user's name, and ``role``, or ``null`` once removed), ``token.created`` (subject
the token's id; ``user``, ``expires_at``, ``made_with`` for a token made with another (whose
revocation revokes it too) and, since it was added, ``hash_fingerprint``, a fingerprint of the
token's stored hash) and ``token.revoked``, ``project.created`` (subject the
project's id; ``name``), ``user.key_added`` and ``user.key_revoked`` (``user``, ``public_key``).
Replayed in append order they give each user's administrator flag, whether they are disabled
and which password hash they have (or none), every role in every project, whose each token is,
when it expires, whether it was revoked and which hash it has, each project's name and each
key's owner; a row that says otherwise (a viewer made admin in the database, a password hash
swapped for one whose password someone knows, a token handed to someone else, a revoked one
working again) was changed outside labledger.

A password hash's fingerprint lets no reader of the ledger test guessed passwords: the argon2id
hash it is taken of carries a random 16-byte salt that only the catalog holds, and whoever reads
the catalog has the hash itself.

Not held: the password hash of a user whose latest ``user.created`` or ``user.password_set``
entry was written before those entries held a fingerprint (a payload with no
``hash_fingerprint`` key vouches for no hash; one whose key is ``null`` says there is none), and
the hash of a token made before its entry held a fingerprint; projects an embedded workspace
made on first use (they have no entry) and rows added with no entry for anything but users,
tokens and keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger.stores.identity import password_hash_fingerprint, token_hash_fingerprint
from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.ledger import LedgerEntry

__all__ = ["IdentityReplay"]


def _token_fingerprint(secret_hash: object) -> str | None:
    return token_hash_fingerprint(secret_hash) if isinstance(secret_hash, str) else None


def _password_fingerprint(password_hash: object) -> str | None:
    # A value of another type (bytes written straight into SQLite) may still sign in, so it is
    # never "no password": its fingerprint matches none an entry holds.
    if password_hash is None or isinstance(password_hash, str):
        return password_hash_fingerprint(password_hash)
    return password_hash_fingerprint(repr(password_hash))


def _password_said(payload: dict[str, Any]) -> dict[str, Any]:
    """What a ``user.created`` or ``user.password_set`` payload vouches for of the password."""
    # An entry written before entries held a fingerprint has no key at all and vouches for no
    # hash; ``null`` is an entry saying the user has no password.
    return {
        "password_held": "hash_fingerprint" in payload,
        "password": payload.get("hash_fingerprint"),
    }


def _password_problem(said: object, held: str | None) -> str | None:
    """Why a stored password hash (fingerprint ``held``) is not the one the ledger left."""
    if said == held:
        return None
    if said is None:
        return (
            "it has a password hash, but the ledger leaves it no password: a password set "
            "outside labledger signs in as this user"
        )
    if held is None:
        return (
            "its password hash is gone, but the ledger leaves it one: its password was removed "
            "outside labledger"
        )
    return (
        "its stored password hash is not the one the ledger last set: another password signs "
        "in as this user"
    )


@dataclass(slots=True)
class IdentityReplay:
    """Users and roles, as the entries walked so far leave them."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, flags, password
    roles: dict[tuple[str, str], str] = field(default_factory=dict)  # (project, user) -> role
    # (project, user) -> who granted the role, where the entry names them
    granted_by: dict[tuple[str, str], str] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> user, expiry, revoked
    projects: dict[str, str] = field(default_factory=dict)  # id -> name
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # public key -> user, revoked

    def visit(self, entry: LedgerEntry) -> None:
        """Note a ``user.*`` or ``role.changed`` entry."""
        kind, payload, subject = entry.kind, entry.payload, entry.subject
        if kind == "user.created":
            self.users[subject] = {
                "name": payload.get("name"),
                "is_admin": bool(payload.get("is_admin")),
                "disabled": False,
                # Since it was added: how the user is shown, which nothing changes afterwards.
                **({"display_name": payload["display_name"]} if "display_name" in payload else {}),
                **_password_said(payload),
            }
        elif kind == "user.password_set" and subject in self.users:
            self.users[subject].update(_password_said(payload))
        elif kind in ("user.disabled", "user.enabled") and subject in self.users:
            self.users[subject]["disabled"] = kind == "user.disabled"
        elif kind == "token.created":
            self.tokens[subject] = {
                "user": payload.get("user"),
                "expires_at": payload.get("expires_at"),
                "fingerprint": payload.get("hash_fingerprint"),
                # The token it was made with, if any: revoking that one revokes this one too.
                "made_with": payload.get("made_with"),
                "revoked": False,
            }
        elif kind == "token.revoked" and subject in self.tokens:
            self.tokens[subject]["revoked"] = True
        elif kind == "project.created":
            self.projects[subject] = str(payload.get("name"))
        elif kind == "user.key_added":
            self.keys[str(payload.get("public_key"))] = {
                "user": payload.get("user"),
                "revoked": False,
            }
        elif kind == "user.key_revoked" and str(payload.get("public_key")) in self.keys:
            self.keys[str(payload.get("public_key"))]["revoked"] = True
        elif kind == "role.changed":
            key = (subject, str(payload.get("user")))
            role = payload.get("role")
            self.granted_by.pop(key, None)
            if role is None:
                self.roles.pop(key, None)
            else:
                self.roles[key] = str(role)
                if isinstance(payload.get("by"), str):
                    self.granted_by[key] = payload["by"]

    def problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        """``(kind, id, reason)`` for each user or role row the entries do not leave so."""
        found = self._user_problems(conn) + self._role_problems(conn)
        found += self._token_problems(conn) + self._project_problems(conn)
        return found + self._key_problems(conn)

    def _user_problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        u = schema.users
        found: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for user_id, name, display_name, is_admin, disabled, password_hash in conn.execute(
            select(
                u.c.id, u.c.name, u.c.display_name, u.c.is_admin, u.c.disabled, u.c.password_hash
            )
        ):
            seen.add(user_id)
            said = self.users.get(user_id)
            if said is None:
                found.append(("user", name, "no user.created entry vouches for this user"))
                continue
            row = {
                "name": name,
                "display_name": display_name,
                "is_admin": bool(is_admin),
                "disabled": bool(disabled),
            }
            found += [
                ("user", name, f"its {column} reads {row[column]!r}, but the ledger leaves "
                 f"{said[column]!r}")
                for column in ("name", "display_name", "is_admin", "disabled")
                if column in said and row[column] != said[column]
            ]  # fmt: skip
            if said["password_held"]:
                reason = _password_problem(said["password"], _password_fingerprint(password_hash))
                if reason is not None:
                    found.append(("user", name, reason))
        found += [
            ("user", str(said["name"]), "the ledger records this user, but its row is gone")
            for user_id, said in self.users.items()
            if user_id not in seen
        ]
        return found

    def _role_problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        u, m = schema.users, schema.project_members
        found: list[tuple[str, str, str]] = []
        rows: dict[tuple[str, str], str] = {}
        grantors: dict[tuple[str, str], str] = {}
        for project_id, user, role, granted_by in conn.execute(
            select(m.c.project_id, u.c.name, m.c.role, m.c.granted_by).join(
                u, u.c.id == m.c.user_id
            )
        ):
            rows[(project_id, user)] = str(role)
            grantors[(project_id, user)] = str(granted_by)
        for key, said_by in sorted(self.granted_by.items()):
            if key in rows and rows[key] == self.roles.get(key) and grantors[key] != said_by:
                project_id, user = key
                found.append(
                    (
                        "role",
                        f"{user}@{project_id}",
                        f"{user}'s role in project {project_id} reads as granted by "
                        f"{grantors[key]!r}, but the role.changed entry names {said_by!r}",
                    )
                )
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

    def _token_problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        t, u = schema.api_tokens, schema.users
        found: list[tuple[str, str, str]] = []
        # Every row of the table, whoever it names: one whose user is gone is not "gone" itself.
        rows = {str(token_id) for token_id in conn.execute(select(t.c.id)).scalars()}
        found += [
            ("token", token_id, "the ledger records this token, but its row is gone")
            for token_id in sorted(self.tokens)
            if token_id not in rows
        ]
        for token_id, user, expires_at, revoked_at, secret_hash, parent_id in conn.execute(
            select(
                t.c.id, u.c.name, t.c.expires_at, t.c.revoked_at, t.c.secret_hash, t.c.parent_id
            ).join(u, u.c.id == t.c.user_id)
        ):
            said = self.tokens.get(token_id)
            if said is None:
                found.append(("token", token_id, "no token.created entry vouches for this token"))
                continue
            if user != said["user"]:
                found.append(
                    (
                        "token",
                        token_id,
                        f"it signs in as {user}, but it was made for {said['user']}",
                    )
                )
            if expires_at != said["expires_at"]:
                found.append(
                    ("token", token_id, f"it expires at {expires_at}, but was made to expire at "
                     f"{said['expires_at']}")
                )  # fmt: skip
            if parent_id != said["made_with"]:
                made = f"made with token {said['made_with']}" if said["made_with"] else "made alone"
                found.append(
                    (
                        "token",
                        token_id,
                        f"it was {made}, but its row names {parent_id or 'no token'} as the one "
                        "it was made with: revoking the token it was made with no longer reaches it",
                    )
                )
            if said["revoked"] and revoked_at is None:
                found.append(("token", token_id, "the ledger revoked it, but its row works again"))
            fingerprint = said["fingerprint"]
            if fingerprint is not None and fingerprint != _token_fingerprint(secret_hash):
                found.append(
                    (
                        "token",
                        token_id,
                        "its stored hash is not the one it was made with: another secret signs "
                        "in with it",
                    )
                )
        return found

    def _project_problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        # A project an embedded workspace made on first use has no entry: only those with one
        # are held to it.
        p = schema.projects
        rows = {project_id: name for project_id, name in conn.execute(select(p.c.id, p.c.name))}
        found: list[tuple[str, str, str]] = []
        for project_id, name in sorted(self.projects.items()):
            held = rows.get(project_id)
            if held is None:
                found.append(("project", name, "the ledger records it, but its row is gone"))
            elif held != name:
                found.append(
                    ("project", project_id, f"it is called {held!r}, but was created as {name!r}")
                )
        return found

    def _key_problems(self, conn: Connection) -> list[tuple[str, str, str]]:
        k, u = schema.user_keys, schema.users
        found: list[tuple[str, str, str]] = []
        for public_key, user, revoked_at in conn.execute(
            select(k.c.public_key, u.c.name, k.c.revoked_at).join(u, u.c.id == k.c.user_id)
        ):
            said = self.keys.get(public_key)
            short = f"{public_key[:16]}..."
            if said is None:
                found.append(("key", short, "no user.key_added entry vouches for this key"))
            elif user != said["user"]:
                found.append(("key", short, f"it is {user}'s, but was added for {said['user']}"))
            elif said["revoked"] and revoked_at is None:
                found.append(("key", short, "the ledger revoked it, but its row works again"))
        return found
