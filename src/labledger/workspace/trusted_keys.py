"""Trusted keys: the public keys a reader pins, so the catalog's own key table is only a hint.

A trusted-keys file is what ``labledger keys export`` writes::

    {"format": "labledger-trusted-keys/1",
     "keys": [{"actor": "ana", "public_key": "<64 hex>", "registered_entry": "<ledger entry id>"}]}

``registered_entry`` (optional) names the ledger entry that registered the key: ``verify`` then
requires that entry to be there, so stripping a key's registration and its signatures is found.
A plain text file with one ``ACTOR PUBLIC_KEY`` pair per line works too. ``verify --trusted-keys``
or ``LABLEDGER_TRUSTED_KEYS`` name the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError
from labledger._foundation.json_input import parse_json

if TYPE_CHECKING:
    import os

__all__ = ["TRUSTED_KEYS_FORMAT", "TrustedKey", "load_trusted_keys", "trusted_keys_document"]

TRUSTED_KEYS_FORMAT = "labledger-trusted-keys/1"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key a reader trusts to sign for ``actor``."""

    actor: str
    public_key: str
    registered_entry: str | None = None


def _key(actor: object, public_key: object, entry: object, where: str) -> TrustedKey:
    if not isinstance(actor, str) or not actor:
        raise ValidationError(f"{where}: the actor is missing", hint="give every key its actor")
    try:
        raw = bytes.fromhex(public_key) if isinstance(public_key, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValidationError(
            f"{where}: {public_key!r} is not an Ed25519 public key",
            hint="a public key is 64 hexadecimal characters (`labledger keys list` shows them)",
        )
    if entry is not None and not isinstance(entry, str):
        raise ValidationError(f"{where}: registered_entry must be a ledger entry id")
    return TrustedKey(actor, raw.hex(), entry)


def load_trusted_keys(source: str | os.PathLike[str]) -> list[TrustedKey]:
    """Read a trusted-keys file (JSON as ``keys export`` writes, or ``ACTOR KEY`` lines).

    Raises:
        ValidationError: The file cannot be read or holds something else.
    """
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"cannot read the trusted-keys file {path}: {exc}",
            hint="write one with `labledger keys export --output FILE`",
        ) from None
    if text.lstrip().startswith("{"):
        document = parse_json(text, str(path))
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValidationError(
                f"{path} has no list of keys",
                hint=f'expected {{"format": "{TRUSTED_KEYS_FORMAT}", "keys": [...]}}',
            )
        keys = [
            _key(
                item.get("actor") if isinstance(item, dict) else None,
                item.get("public_key") if isinstance(item, dict) else None,
                item.get("registered_entry") if isinstance(item, dict) else None,
                f"{path}, key {number}",
            )
            for number, item in enumerate(entries, 1)
        ]
    else:
        keys = []
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValidationError(
                    f"{path}, line {number}: expected ACTOR PUBLIC_KEY",
                    hint="one actor and one 64-hex-digit key per line",
                )
            keys.append(_key(fields[0], fields[1], None, f"{path}, line {number}"))
    if not keys:
        raise ValidationError(f"{path} names no keys", hint="a trusted-keys file must pin a key")
    return keys


def trusted_keys_document(keys: list[TrustedKey]) -> str:
    """The JSON text of a trusted-keys file pinning ``keys``."""
    items = [
        {"actor": k.actor, "public_key": k.public_key, "registered_entry": k.registered_entry}
        for k in keys
    ]
    return json.dumps({"format": TRUSTED_KEYS_FORMAT, "keys": items}, indent=2) + "\n"
