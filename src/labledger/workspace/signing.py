"""Ed25519 signatures for ledger entries, one key pair per actor.

A private key lives in a PEM file the actor keeps (``labledger keys create`` writes one under
``~/.config/labledger/keys/``); its public half is registered in the catalog, so anyone can check
entries without the private key. Set ``LABLEDGER_SIGNING_KEY`` to a PEM path to sign every entry.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from labledger._foundation.errors import ConfigurationError

__all__ = [
    "Signer",
    "UnsignedWriteWarning",
    "default_key_path",
    "generate_key",
    "load_signer",
    "signature_is_valid",
]


class UnsignedWriteWarning(UserWarning):
    """Entries are about to be written unsigned by an actor who registered a signing key."""


@dataclass(frozen=True)  # no slots: public_key_hex is cached on the instance
class Signer:
    """Signs ledger hashes as ``actor``."""

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
        return self.private_key.sign(entry_hash.encode("ascii")).hex()


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


def signature_is_valid(public_key_hex: str, entry_hash: str, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is ``public_key_hex``'s signature of ``entry_hash``."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        public.verify(bytes.fromhex(signature_hex), entry_hash.encode("ascii"))
    except (InvalidSignature, ValueError):
        return False
    return True
