"""Ed25519 signatures for ledger entries, one key pair per actor.

A private key lives in a PEM file the actor keeps (``labledger keys create`` writes one under
``~/.config/labledger/keys/``); its public half is registered in the catalog, so anyone can check
entries without the private key. Set ``LABLEDGER_SIGNING_KEY`` to a PEM path to sign every entry.

Two schemes, told apart by the stored signature text:

- **body signatures** (``v2:`` + the signature in unpadded base64url): over
  ``b"labledger-entry-v2\n" + canonical_json(body)``, the body being the entry's id, kind, actor,
  subject, payload, time and the signing key's id (its public key, hex). Nothing in it depends on
  the chain, so a body can be signed before anyone knows where it will be appended.
- **chained-hash signatures** (128 hex digits, written by earlier labledger): over the entry's
  chained hash, text ``blake3:<hex>``. They stay valid.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ConfigurationError, ValidationError
from labledger._foundation.key_points import weak_point_reason
from labledger.stores.ledger import EntryBody

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BODY_SIGNATURE_DOMAIN",
    "BODY_SIGNATURE_PREFIX",
    "EntryBody",
    "Signer",
    "UnsignedWriteWarning",
    "body_message",
    "body_signature_is_valid",
    "default_key_path",
    "entry_signature_is_valid",
    "generate_key",
    "is_body_signature",
    "load_signer",
    "signature_is_valid",
    "usable_public_key",
]

BODY_SIGNATURE_DOMAIN = b"labledger-entry-v2\n"
BODY_SIGNATURE_PREFIX = "v2:"
_BODY_SIGNATURE_CHARS = 86  # 64 bytes in unpadded base64url; the column holds 128 characters


def body_message(body: EntryBody) -> bytes:
    """The bytes a body signature signs: a domain prefix, then the body's canonical JSON.

    Raises:
        TypeError, ValueError: A field cannot be canonicalised (a payload JSON cannot hold).
    """
    return BODY_SIGNATURE_DOMAIN + canonical_json(body.fields())


def is_body_signature(signature: str) -> bool:
    """Whether a stored signature is a body signature (else a chained-hash one)."""
    return signature.startswith(BODY_SIGNATURE_PREFIX)


def _encode_body_signature(raw: bytes) -> str:
    return BODY_SIGNATURE_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_body_signature(signature: str) -> bytes | None:
    """The raw signature, or ``None`` unless ``signature`` is one in its only valid spelling."""
    text = signature[len(BODY_SIGNATURE_PREFIX) :]
    if not is_body_signature(signature) or len(text) != _BODY_SIGNATURE_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError):
        return None
    return raw if _encode_body_signature(raw) == signature else None


class UnsignedWriteWarning(UserWarning):
    """Entries are about to be written unsigned by an actor who registered a signing key."""


@dataclass(frozen=True)  # no slots: public_key_hex is cached on the instance
class Signer:
    """Signs ledger entries as ``actor``."""

    actor: str
    private_key: Ed25519PrivateKey
    path: Path | None = None  # the PEM file it was loaded from

    @functools.cached_property
    def public_key_hex(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return raw.hex()

    def sign(self, entry_hash: str) -> str:
        """A chained-hash signature (the scheme of earlier labledger; still verified)."""
        return self.private_key.sign(entry_hash.encode("ascii")).hex()

    def sign_body(self, body: EntryBody) -> str:
        """The body signature of ``body``, as stored: ``v2:`` + base64url.

        Raises:
            ValidationError: The body is not in this signer's name or names another key.
        """
        if body.actor != self.actor or body.key_id != self.public_key_hex:
            raise ValidationError(
                f"a body by {body.actor} naming key {body.key_id[:16]}... cannot be signed with "
                f"{self.actor}'s key {self.public_key_hex[:16]}...",
                hint="make the body with this signer's actor and public_key_hex as key_id",
            )
        return _encode_body_signature(self.private_key.sign(body_message(body)))


def default_key_path(actor: str) -> Path:
    """Where ``labledger keys create`` keeps ``actor``'s private key."""
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "labledger" / "keys" / f"{actor}.pem"


def generate_key(path: Path) -> None:
    """Write a new Ed25519 private key as PEM, readable by its owner only.

    The file appears whole or not at all (written aside, then linked into place), so a process
    that finds it can always read it.

    Raises:
        FileExistsError: ``path`` exists already.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.link(temp, path)
    finally:
        os.unlink(temp)


def load_signer(path: str | os.PathLike[str], actor: str) -> Signer:
    """Load ``actor``'s private key from a PEM file."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot load the signing key {os.fspath(path)}: {exc}",
            hint="create one with `labledger keys create`",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{os.fspath(path)} is not an Ed25519 key")
    return Signer(actor=actor, private_key=key, path=Path(path))


@functools.lru_cache(maxsize=1024)
def usable_public_key(public_key_hex: str) -> Ed25519PublicKey | None:
    """The key ``public_key_hex`` names, or ``None`` when it is no key to check signatures with:
    not 32 bytes of hex, or a small-order point, under which signatures can be made without any
    secret (``key_points``; such a key cannot be registered today, and one registered before
    that check signs nothing valid)."""
    try:
        raw = bytes.fromhex(public_key_hex)
        if weak_point_reason(raw) is not None:
            return None
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        return None


def signature_is_valid(public_key_hex: str, entry_hash: str, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is ``public_key_hex``'s chained-hash signature of ``entry_hash``."""
    public = usable_public_key(public_key_hex)
    if public is None:
        return False
    try:
        public.verify(bytes.fromhex(signature_hex), entry_hash.encode("ascii"))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        return False
    return True


def body_signature_is_valid(body: EntryBody, signature: str) -> bool:
    """Whether ``signature`` (``v2:...``) is the signature of ``body`` by the key it names."""
    raw = _decode_body_signature(signature)
    if raw is None:
        return False
    try:
        if not isinstance(body.created_at, int | float) or not math.isfinite(body.created_at):
            return False
        public = usable_public_key(body.key_id)
        if public is None:
            return False
        public.verify(raw, body_message(body))
    except (InvalidSignature, ValueError, TypeError, RecursionError):
        return False
    return True


def entry_signature_is_valid(
    public_key_hex: str, signature: str, *, chained_hash: str, fields: Mapping[str, Any]
) -> bool:
    """Whether a stored entry signature, of either scheme, is by ``public_key_hex``.

    Args:
        public_key_hex: The key to check against (for a body signature, the key id it binds).
        signature: The stored text: ``v2:...`` for a body signature, else chained-hash hex.
        chained_hash: The entry's chained hash (what a chained-hash signature signs).
        fields: The entry's id, kind, actor, subject, payload and created_at.
    """
    if not is_body_signature(signature):
        return signature_is_valid(public_key_hex, chained_hash, signature)
    try:
        body = EntryBody(
            fields["id"],
            fields["kind"],
            fields["actor"],
            fields["subject"],
            fields["payload"],
            fields["created_at"],
            public_key_hex,
        )
    except KeyError:
        return False
    return body_signature_is_valid(body, signature)
