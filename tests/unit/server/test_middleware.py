"""The NUL check as a JSON body streams in: an escape split across chunks is still found."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labledger._foundation.errors import ValidationError
from labledger.server.middleware import NoNulCharacters


def _read_in_chunks(body: bytes, cut: int) -> bytes:
    """Send ``body`` in two chunks, cut at ``cut``, through the middleware to an app that reads
    it all; the bytes the app read."""
    chunks = [body[:cut], body[cut:]]
    read: list[bytes] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            read.append(message["body"])
            if not message["more_body"]:
                return

    async def send(message: Any) -> None:  # pragma: no cover - the app answers nothing
        raise AssertionError(message)

    scope = {"type": "http", "path": "/api/v1/tokens", "query_string": b"", "headers": []}
    asyncio.run(NoNulCharacters(app)(scope, receive, send))
    return b"".join(read)


@pytest.mark.parametrize("backslashes", [0, 2, 4])
def test_a_nul_escape_is_found_wherever_the_chunks_are_cut(backslashes: int) -> None:
    body = b'{"a": "x' + b"\\" * backslashes + b'\\u0000"}'
    for cut in range(1, len(body)):
        with pytest.raises(ValidationError, match="NUL"):
            _read_in_chunks(body, cut)


@pytest.mark.parametrize("backslashes", [1, 3])
def test_a_literal_backslash_before_u0000_passes_wherever_the_chunks_are_cut(
    backslashes: int,
) -> None:
    body = b'{"a": "x' + b"\\" * backslashes + b'\\u0000"}'
    for cut in range(1, len(body)):
        assert _read_in_chunks(body, cut) == body
