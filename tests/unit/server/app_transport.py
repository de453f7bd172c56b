"""``AppTransport``: an httpx transport that hands each request to an app in this process.

``httpx.ASGITransport`` serves async clients only; the HTTP stores use a sync client, so requests
go through Starlette's test client instead (same app, no network).
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["AppTransport"]


class AppTransport(httpx.BaseTransport):
    """Serve requests with ``app``; ``requests`` counts them by ``(method, path)``."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, raise_server_exceptions=False)
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        answer = self.client.request(
            request.method, str(request.url), content=request.read(), headers=request.headers
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
