"""Ed25519 public keys a user may register: real curve points of large order, spelled canonically."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labledger._foundation.errors import ValidationError
from labledger._foundation.key_points import weak_point_reason
from labledger.identity import parse_public_key
from labledger.stores.ledger import EntryBody
from labledger.workspace.checkpoints import signature_is_valid_bytes
from labledger.workspace.signing import (
    BODY_SIGNATURE_PREFIX,
    body_signature_is_valid,
    signature_is_valid,
)

# The eight points of small order (the identity and the all-zero bytes among them).
SMALL_ORDER = (
    "01" + "00" * 31,
    "ec" + "ff" * 30 + "7f",
    "00" * 32,
    "00" * 31 + "80",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
)
# Other spellings of small-order points: y + p for y = 0 and y = 1, and x = 0 with its sign set.
NON_CANONICAL = ("ed" + "ff" * 30 + "7f", "ee" + "ff" * 30 + "7f", "01" + "00" * 30 + "80",
                 "ec" + "ff" * 31)  # fmt: skip


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_keys_made_the_ordinary_way_are_accepted() -> None:
    for _ in range(50):
        raw = _public(Ed25519PrivateKey.generate())
        assert weak_point_reason(raw) is None
        assert parse_public_key(raw.hex()) == raw.hex()


@pytest.mark.parametrize("text", SMALL_ORDER)
def test_points_of_small_order_are_refused(text: str) -> None:
    assert "small order" in (weak_point_reason(bytes.fromhex(text)) or "")
    with pytest.raises(ValidationError, match="not a usable Ed25519 public key") as caught:
        parse_public_key(text)
    assert caught.value.hint


@pytest.mark.parametrize("text", NON_CANONICAL)
def test_non_canonical_spellings_are_refused(text: str) -> None:
    assert weak_point_reason(bytes.fromhex(text)) is not None
    with pytest.raises(ValidationError, match="not a usable Ed25519 public key"):
        parse_public_key(text)


def test_bytes_that_are_no_point_on_the_curve_are_refused() -> None:
    # y = 2 has no x on the curve.
    assert "not a point" in (weak_point_reason(bytes([2]) + bytes(31)) or "")


def test_a_signature_forged_under_a_small_order_key_is_never_valid() -> None:
    """With the identity point as the key, R = identity and S = 0 passes a bare Ed25519 check
    for any message; a key registered before keys were checked must not sign anything."""
    identity = "01" + "00" * 31
    forged = bytes.fromhex(identity) + bytes(32)
    assert not signature_is_valid(identity, "ab" * 32, forged.hex())
    assert not signature_is_valid_bytes(identity, b"any checkpoint", forged.hex())
    body = EntryBody.new("note", subject="run:x", payload={}, actor="mallory", key_id=identity)
    encoded = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    assert not body_signature_is_valid(body, BODY_SIGNATURE_PREFIX + encoded)
