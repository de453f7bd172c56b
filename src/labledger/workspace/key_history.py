"""Which keys may sign for whom, at each point of the ledger, as its own entries say.

Three entry kinds change it, and each is checked as it is met in append order:

- ``key.registered`` (payload ``actor``, ``public_key``): the actor's first key, written by the actor
  (the workspace key by whoever first used the workspace). From then on every entry in the actor's
  name must be signed; a second registration for the same actor is refused. With trusted keys, a
  key nobody pinned is on record but its signatures do not count.
- ``key.rotated`` (payload ``actor``, ``old_key``, ``new_key``): written by the actor and signed
  by the old key, which must be valid; the new key replaces it. A trusted key's successor is
  trusted.
- ``key.revoked`` (payload ``actor``, ``public_key``, ``reason``): signed by a valid key of the
  entry's writer (the actor, or someone else whose key is trusted); the key signs nothing after it.
- ``user.key_added`` (payload ``user``, ``public_key``, ``by``): a server's record that the signed-in
  user registered a key (``/api/v1/me/keys``); the server vouches for it, as it does for every
  write it attributes to a user. From then on the key signs for ``user``, beside any other keys
  they have, and every entry in ``user``'s name must be signed (so a signature stripped from one is
  found); the server's own writes for them are in its actor's name, naming them as ``by``. A
  server actor registering a key for itself is not held to that, as its unsigned writes would
  break. A key another actor holds, or one revoked before, is refused. With trusted keys, only a
  pinned one counts.
- ``user.key_revoked`` (payload ``user``, ``public_key``, ``by``): the key signs nothing valid
  after this entry. Entries it signed before stay valid: the history is followed in append
  order. No signature by the key is needed, so a lost key can be revoked.

Signatures of both schemes count (see ``signing``): a body signature (``v2:...``) holds only for
the key it names as ``key_id``, a chained-hash one (hex, older entries) for the key that signed the
hash; either way it must be one of the actor's valid keys at that point of the ledger.

The catalog's ``ledger_keys`` table is never consulted: it is a hint for people, not evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger.workspace.signing import entry_signature_is_valid

WORKSPACE_ACTOR = "workspace"  # whose key signs checkpoints (see checkpoints.py)
USER_KEY_KINDS = ("user.key_added", "user.key_revoked")  # written by a server for its users
# The entries that change keys.
KEY_KINDS = ("key.registered", "key.rotated", "key.revoked", *USER_KEY_KINDS)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.trusted_keys import TrustedKey

__all__ = ["KEY_KINDS", "USER_KEY_KINDS", "KeyHistory"]


class KeyHistory:
    """Follows key entries through the ledger and checks each entry's signature."""

    def __init__(self, trusted: Sequence[TrustedKey] | None = None) -> None:
        self.trusted = list(trusted) if trusted is not None else None
        self._pinned = {(k.actor, k.public_key) for k in self.trusted or ()}
        self.valid: dict[str, set[str]] = {}  # actor -> keys that may sign for them now
        self.signing_actors: set[str] = set()
        self.revoked: set[str] = set()
        self.registered: dict[tuple[str, str], str] = {}  # (actor, key) -> entry id

    def _signed_by(self, entry: LedgerEntry) -> str | None:
        """The valid key of the entry's actor that made its signature, if any."""
        if entry.signature is None:
            return None
        for key in self.valid.get(entry.actor, ()):
            if _signs(key, entry, entry.signature):
                return key
        return None

    def _signer(self, entry: LedgerEntry) -> str | None:
        signer = self._signed_by(entry)
        field = "user" if entry.kind == "user.key_added" else "actor"
        actor = str(entry.payload.get(field, ""))
        registers = entry.kind in ("key.registered", "user.key_added")
        if signer is None and registers and entry.actor == actor:
            # A registration may be signed by the key it registers (a user who adds a key while
            # holding it signs the entry with it).
            key = str(entry.payload.get("public_key", ""))
            allowed = self.trusted is None or (actor, key) in self._pinned
            if allowed and entry.signature and _signs(key, entry, entry.signature):
                signer = key
        return signer

    def check(self, entry: LedgerEntry) -> list[str]:
        """Problems with ``entry``'s signature; then apply it if it changes keys."""
        problems: list[str] = []
        signer = self._signer(entry)
        if entry.signature is not None and signer is None:
            who = "a trusted key" if self.trusted is not None else "a key registered in the ledger"
            problems.append(f"its signature by {entry.actor} is invalid, or not by {who} of theirs")
        elif entry.signature is None and entry.actor in self.signing_actors:
            problems.append(
                f"it is unsigned, but {entry.actor} signs every entry since registering a key"
            )
        apply = {
            "key.registered": self._registered,
            "key.rotated": self._rotated,
            "key.revoked": self._revoked,
        }.get(entry.kind)
        if apply is not None:
            problems += apply(entry, str(entry.payload.get("actor", "")), signer)
        elif entry.kind == "user.key_added":
            problems += self._user_key_added(str(entry.payload.get("user", "")), entry)
        elif entry.kind == "user.key_revoked":
            key = str(entry.payload.get("public_key", ""))
            self.valid.get(str(entry.payload.get("user", "")), set()).discard(key)
            self.revoked.add(key)
        return problems

    def _user_key_added(self, user: str, entry: LedgerEntry) -> list[str]:
        key = str(entry.payload.get("public_key", ""))
        if not user or len(key) != 64:
            return ["it adds a user's key but does not name both the user and the key"]
        if key in self.revoked:
            return [f"it adds {user}'s key {key[:16]}..., which was revoked"]
        others = sorted(a for a, keys in self.valid.items() if key in keys and a != user)
        if others:
            return [f"it adds {user}'s key {key[:16]}..., which signs for {', '.join(others)}"]
        self.registered.setdefault((user, key), entry.id)
        if user != entry.actor:
            self.signing_actors.add(user)
        if self.trusted is None or (user, key) in self._pinned:
            self.valid.setdefault(user, set()).add(key)
        return []

    def _registered(self, entry: LedgerEntry, actor: str, signer: str | None) -> list[str]:
        key = str(entry.payload.get("public_key", ""))
        self.signing_actors.add(actor)
        if actor not in (entry.actor, WORKSPACE_ACTOR):
            return [
                f"it registers a key for {actor} but was written by {entry.actor}: an actor "
                "registers their own key"
            ]
        if self.valid.get(actor) or any(a == actor for a, _ in self.registered):
            return [
                f"it registers another key for {actor}, who has one: a key changes only by a "
                "key.rotated entry signed with the old key"
            ]
        if key in self.revoked:
            return [f"it registers {actor}'s key {key[:16]}..., which was revoked"]
        self.registered[(actor, key)] = entry.id
        if self.trusted is None or (actor, key) in self._pinned:
            # With trusted keys, a key nobody pinned is on record but signs nothing valid.
            self.valid.setdefault(actor, set()).add(key)
        return []

    def _rotated(self, entry: LedgerEntry, actor: str, signer: str | None) -> list[str]:
        old, new = str(entry.payload.get("old_key", "")), str(entry.payload.get("new_key", ""))
        if entry.actor != actor or signer is None or signer != old:
            return [f"it rotates {actor}'s key but is not signed by that key ({old[:16]}...)"]
        self.valid[actor] = {new}
        self.revoked.add(old)
        self.registered[(actor, new)] = entry.id
        return []

    def _revoked(self, entry: LedgerEntry, actor: str, signer: str | None) -> list[str]:
        key = str(entry.payload.get("public_key", ""))
        if signer is None:
            return [f"it revokes {actor}'s key {key[:16]}... without a valid signature"]
        self.valid.get(actor, set()).discard(key)
        self.revoked.add(key)
        return []

    def missing_trusted(self, actors: Mapping[str, int]) -> list[str]:
        """Trusted keys whose registration is not in the ledger although it should be."""
        problems: list[str] = []
        for key in self.trusted or ():
            seen = self.registered.get((key.actor, key.public_key))
            if key.registered_entry is not None and seen != key.registered_entry:
                problems.append(
                    f"the trusted key of {key.actor} was registered by entry "
                    f"{key.registered_entry}, which is not in the ledger as such: the "
                    "registration (and with it the duty to sign) was removed or rewritten"
                )
            elif key.registered_entry is None and seen is None and actors.get(key.actor):
                problems.append(
                    f"{key.actor} wrote {actors[key.actor]} entries, but their trusted key is "
                    "never registered in the ledger: signatures and registration may have been "
                    "stripped"
                )
        return problems


def _signs(key: str, entry: LedgerEntry, signature: str) -> bool:
    """Whether ``signature`` is ``key``'s, over the entry's body (``v2:``) or its chained hash."""
    fields = {
        "id": entry.id,
        "kind": entry.kind,
        "actor": entry.actor,
        "subject": entry.subject,
        "payload": entry.payload,
        "created_at": entry.created_at,
    }
    return entry_signature_is_valid(key, signature, chained_hash=entry.hash, fields=fields)
