"""One error body for every failure: ``{"code", "message", "hint"}``, with the matching status.

labledger's own errors map to statuses here (validation 400, not found 404, permission 403,
conflict 409, authentication 401 with ``WWW-Authenticate``); FastAPI's request validation is 422,
and anything unexpected is a 500 whose hint names the request id to look up in the log. A store
that does not answer is a 503 with a generic message: its details (the database's address, the
driver's words) go to the server's log only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from labledger._foundation.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    LabledgerError,
    NotFoundError,
    PermissionDeniedError,
    RunStateError,
    StoreUnavailableError,
    ValidationError,
    WorkspaceError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

__all__ = [
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ServerBusyError",
    "error_response",
    "install_error_handlers",
    "status_of",
]

_log = logging.getLogger("labledger.server")


class RequestTooLargeError(ValidationError):
    """A request body over the server's size limit."""

    code = "too_large"


class RequestTimeoutError(ValidationError):
    """A request body that did not arrive in time."""

    code = "timeout"


class ServerBusyError(WorkspaceError):
    """The server holds too much for one more request now; sent again later, it may pass."""

    code = "busy"


# Most specific first: the first class the error is an instance of decides the status. The body's
# code is the error's own (``LabledgerError.code``), so a client raises the same class again.
_STATUSES: tuple[tuple[type[LabledgerError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RequestTooLargeError, 413),
    (RequestTimeoutError, 408),
    (ValidationError, 400),
    (RunStateError, 409),
    (IntegrityError, 500),
    (WorkspaceError, 503),
    (ConfigurationError, 500),
)
_HTTP_CODES = {
    400: "validation",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def status_of(error: LabledgerError) -> tuple[int, str]:
    """The HTTP status and error code for a labledger error."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status, error.code
    return 400, error.code


def error_response(
    status: int,
    code: str,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one error body shape, as a response."""
    body = {"code": code, "message": message, "hint": hint}
    return JSONResponse(body, status_code=status, headers=headers)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


async def _labledger_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LabledgerError)
    status, code = status_of(exc)
    headers = None
    if status == 401:
        presented = request.headers.get("authorization") is not None
        challenge = 'Bearer realm="labledger"'
        headers = {"WWW-Authenticate": challenge + (', error="invalid_token"' if presented else "")}
    if status >= 500:
        _log.error("request failed: %s", exc, extra={"request_id": _request_id(request)})
    if isinstance(exc, StoreUnavailableError):
        # The store's own message names the database (user, host, port) and the driver's words:
        # for the server's log (above), not for every client.
        return error_response(
            status,
            code,
            "the server's catalog database does not answer; try again later",
            f"the server log has the details under request {_request_id(request)}",
            headers,
        )
    return error_response(status, code, exc.message, exc.hint, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, LabledgerError):
        # FastAPI wraps what fails while it reads a body (an over-long one, say) in a 400.
        return await _labledger_error(request, exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    hint = "see /api/v1/openapi.json for the routes" if exc.status_code in {404, 405} else None
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message.lower(), hint, headers)


def _where(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ()))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    message = f"{_where(first)}: {first.get('msg', 'invalid')}" if first else "invalid request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(
        422, "invalid_request", message + more, "see /api/v1/openapi.json for the request shape"
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = _request_id(request)
    _log.exception("unexpected error", extra={"request_id": request_id})
    # Starlette answers unexpected errors outside every middleware, so the id header goes on here.
    headers = {"X-Request-ID": request_id} if request_id else None
    if isinstance(exc, PermissionError):
        # The blob store's credentials (an S3 403) or its folder's permissions: the one failure
        # of that kind a route meets, and one only the server's administrator can fix.
        return error_response(
            500,
            "storage_refused",
            "the server was refused access to its storage",
            "tell the server's administrator: its blob store's credentials or permissions are "
            f"wrong (GET /readyz says so; the log has request {request_id})",
            headers=headers,
        )
    return error_response(
        500,
        "internal",
        "internal server error",
        f"the server log has it under request {request_id}",
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every error (ours, FastAPI's, Starlette's, unexpected ones) in the one shape."""
    app.add_exception_handler(LabledgerError, _labledger_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
