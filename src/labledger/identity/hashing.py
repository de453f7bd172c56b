"""Secrets: API token strings and their hashes, and password hashing with argon2.

A token is ``lle_`` followed by 32 random bytes in URL-safe base64. Only its SHA-256 is stored, so
a stolen catalog yields no usable token. Passwords are hashed with argon2id (``argon2-cffi``, from
the ``server`` extra), which carries its own salt and parameters.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from labledger._foundation.errors import ConfigurationError
from labledger._foundation.extras import install_hint

__all__ = ["TOKEN_PREFIX", "hash_password", "new_token_secret", "token_hash", "verify_password"]

TOKEN_PREFIX = "lle_"  # noqa: S105 - not a secret
_TOKEN_BYTES = 32


def new_token_secret() -> str:
    """A fresh token secret: ``lle_`` + 32 random bytes, URL-safe base64."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def token_hash(secret: str) -> str:
    """The SHA-256 (hex) of a token secret: what the store keeps and looks tokens up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "password hashing needs argon2-cffi, which is not installed",
            hint=install_hint("server"),
        ) from exc
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salt and parameters included)."""
    return str(_hasher().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (argon2 compares in constant time)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
