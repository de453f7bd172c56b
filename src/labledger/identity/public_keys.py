"""Reading a user's Ed25519 public key in the spellings people have at hand.

labledger names a key by its 32 raw bytes in lowercase hex (the ``key_id`` signed bodies carry);
people also have OpenSSH lines (``ssh-ed25519 AAAA... comment``) and PEM files. A PEM *private*
key is refused here: only the public half is ever sent to a server. So is a key that is not a
usable curve point (a small-order one, the all-zero bytes among them; see ``key_points``).
"""

from __future__ import annotations

import re

from labledger._foundation.errors import ValidationError
from labledger._foundation.key_points import weak_point_reason

__all__ = ["parse_public_key"]

_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_HINT = (
    "pass 64 hex digits, an `ssh-ed25519 ...` line, or a PEM public key "
    "(`labledger keys create` makes a key pair; its public half is in `labledger keys list`)"
)


def parse_public_key(text: str) -> str:
    """The key as 64 lowercase hex digits.

    Raises:
        ValidationError: ``text`` is not an Ed25519 public key in one of the accepted spellings.
    """
    text = text.strip()
    if _HEX.match(text):
        raw = bytes.fromhex(text)
    elif "PRIVATE KEY" in text:
        raise ValidationError("that is a private key: never send it anywhere", hint=_HINT)
    else:
        raw = _decoded(text)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValidationError("that is not an Ed25519 public key", hint=_HINT) from exc
    weak = weak_point_reason(raw)
    if weak is not None:
        raise ValidationError(
            f"that is not a usable Ed25519 public key: {weak}",
            hint="send the public half of a key pair made by `labledger keys create` (or "
            "ssh-keygen -t ed25519)",
        )
    return raw.hex()


def _decoded(text: str) -> bytes:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = text.encode("utf-8", "replace")
    key: object
    try:
        if text.startswith("ssh-"):
            key = serialization.load_ssh_public_key(data)
        elif text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            raise ValidationError("that is not a public key", hint=_HINT)
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"cannot read the public key: {exc}", hint=_HINT) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError("only Ed25519 keys sign ledger entries", hint=_HINT)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
