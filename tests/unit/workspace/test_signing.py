"""Ed25519 keys: creating, loading and checking signatures."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from labledger._foundation.errors import ConfigurationError
from labledger.workspace.signing import (
    default_key_path,
    generate_key,
    load_signer,
    signature_is_valid,
)

if TYPE_CHECKING:
    from pathlib import Path

HASH = "blake3:" + "ab" * 32


def test_generated_keys_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "alice.pem"
    generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(FileExistsError):
        generate_key(path)


def test_sign_and_check(tmp_path: Path) -> None:
    generate_key(tmp_path / "a.pem")
    signer = load_signer(tmp_path / "a.pem", "alice")
    assert signer.actor == "alice"
    assert len(signer.public_key_hex) == 64
    signature = signer.sign(HASH)
    assert len(signature) == 128
    assert signature_is_valid(signer.public_key_hex, HASH, signature)
    assert not signature_is_valid(signer.public_key_hex, "blake3:" + "cd" * 32, signature)
    generate_key(tmp_path / "b.pem")
    other = load_signer(tmp_path / "b.pem", "alice")
    assert not signature_is_valid(other.public_key_hex, HASH, signature)


@pytest.mark.parametrize(
    ("public", "signature"),
    [("zz", "00"), ("00" * 31, "00" * 64), ("00" * 32, "not hex"), ("", "")],
)
def test_malformed_keys_or_signatures_are_invalid_not_errors(public: str, signature: str) -> None:
    assert signature_is_valid(public, HASH, signature) is False


def test_loading_a_missing_or_garbage_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="labledger keys create"):
        load_signer(tmp_path / "absent.pem", "alice")
    (tmp_path / "garbage.pem").write_text("-----BEGIN PRIVATE KEY-----\nnope\n")
    with pytest.raises(ConfigurationError):
        load_signer(tmp_path / "garbage.pem", "alice")


def test_loading_a_key_of_another_type(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    with pytest.raises(ConfigurationError, match="not an Ed25519 key"):
        load_signer(tmp_path / "ec.pem", "alice")


def test_default_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_key_path("alice") == tmp_path / "labledger" / "keys" / "alice.pem"


def test_unsigned_entries_after_a_key_registration_fail_verification(tmp_path: Path) -> None:
    from labledger.workspace.keys import register_key
    from labledger.workspace.ledger import verify_chain
    from labledger.workspace.signing import Signer
    from labledger.workspace.workspace import Workspace

    key_path = tmp_path / "alice.pem"
    generate_key(key_path)
    signer = load_signer(key_path, "alice")
    assert isinstance(signer, Signer)
    ws = Workspace.init(tmp_path / "ws", actor="alice")
    try:
        with ws.write() as conn:
            ws.record(conn, "note", "x", {"before": "registration"})  # unsigned: fine so far
        register_key(ws, "alice", signer.public_key_hex)
        ws.signer = signer
        with ws.write() as conn:
            ws.record(conn, "note", "x", {"signed": True})
        ws.signer = None  # someone writes as alice without her key
        with ws.write() as conn:
            forged = ws.record(conn, "note", "x", {"signed": False})
        with ws.read() as conn:
            _, problems = verify_chain(conn)
        assert [(p.entry_id, "unsigned" in p.reason) for p in problems] == [(forged.id, True)]
    finally:
        ws.close()
