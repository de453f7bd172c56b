"""Page tokens: opaque, round-tripping, and refused when forged."""

from __future__ import annotations

import pytest

from labledger._foundation.errors import ValidationError
from labledger.stores.pages import decode_token, encode_token


@pytest.mark.parametrize("key", ["name", ["2024-01-01", "01a2"], 17, {"seq": 3}])
def test_a_token_gives_back_its_key(key: object) -> None:
    token = encode_token(key)
    assert "=" not in token and "/" not in token
    assert decode_token(token) == key


@pytest.mark.parametrize("token", ["not base64 at all!", "e30", "x" * 5000, "////"])
def test_a_token_not_made_here_is_refused_with_a_hint(token: str) -> None:
    if token == "e30":  # '{}' is valid JSON: a token is only as opaque as its key
        assert decode_token(token) == {}
        return
    with pytest.raises(ValidationError, match="page token"):
        decode_token(token)
