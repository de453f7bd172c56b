"""The NUL check as a body streams in: an escape split across chunks is still found, a NUL byte
(UTF-16 text) is refused, only a blob's bytes pass unscanned, and the scan keeps no more than a
few bytes between chunks however long a run of backslashes is."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labledger._foundation.errors import ValidationError
from labledger.server.middleware import NoNulCharacters


def _read_in_chunks(
    body: bytes, cut: int, *, headers: list[tuple[bytes, bytes]] | None = None, method: str = "POST"
) -> bytes:
    """Send ``body`` in two chunks, cut at ``cut``, through the middleware to an app that reads
    it all; the bytes the app read."""
    return _read(
        [body[:cut], body[cut:]], headers=headers or [], method=method, path="/api/v1/tokens"
    )


def _read(
    chunks: list[bytes], *, headers: list[tuple[bytes, bytes]], method: str, path: str
) -> bytes:
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

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers,
    }
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


_JSON = (b"content-type", b"application/json")


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"application/octet-stream+json")],
        [_JSON, (b"content-type", b"application/octet-stream")],  # the routes read the first
        [],
    ],
)
def test_only_a_body_sent_as_bytes_passes_unscanned(headers: list[tuple[bytes, bytes]]) -> None:
    body = b'{"name": "x\\u0000y"}'
    with pytest.raises(ValidationError, match="NUL"):
        _read([body], headers=headers, method="POST", path="/api/v1/collections")


def test_blob_bytes_may_hold_anything() -> None:
    data = b"\x00\\u0000 raw bytes"
    as_bytes = [(b"content-type", b"application/octet-stream; charset=binary")]
    assert _read([data], headers=as_bytes, method="POST", path="/api/v1/x") == data
    assert _read([data], headers=[_JSON], method="PUT", path="/api/v1/blobs/blake3:ab") == data


def test_a_body_in_utf16_is_refused_for_its_nul_bytes() -> None:
    body = '{"name": "x"}'.encode("utf-16")
    with pytest.raises(ValidationError, match="UTF-8"):
        _read([body], headers=[_JSON], method="POST", path="/api/v1/collections")


def test_a_long_run_of_backslashes_leaves_only_a_few_bytes_between_chunks() -> None:
    from labledger.server.middleware import _NulScan

    scan = _NulScan()
    for _ in range(200):
        scan.feed(b"\\" * 999)  # an odd run each time: the parity flips
        assert len(scan._tail) <= 6
    scan.feed(b"u0000")  # 199,800 backslashes before it: even, so they are literal ones
    with pytest.raises(ValidationError):
        scan.feed(b"\\u0000")
    odd = _NulScan()
    for _ in range(3):
        odd.feed(b"\\" * 999)  # 2,997 in all: the last one begins an escape
    with pytest.raises(ValidationError):
        odd.feed(b"u0000")
