"""The OpenAPI document: FastAPI's, plus what every operation shares.

Each operation names the permission it needs (``x-labledger-permission``) and documents the error
answers it can give, all in the one error body shape, so a client (or a fuzzer) can check every
response against the document. Rows sent as positional arrays (the stores' named tuples) are
described as arrays of their fields' types whose description lists the fields in order: the
``prefixItems`` form pydantic writes is not read by every OpenAPI tool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labledger.server.permissions import api_routes, route_permissions

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ERROR_SCHEMA", "openapi_document"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error answer: what kind of error, what happened, what to do next.",
    "properties": {
        "code": {
            "type": "string",
            "description": "Machine-readable kind (not_found, conflict, validation...).",
        },
        "message": {"type": "string"},
        "hint": {"type": ["string", "null"]},
    },
    "required": ["code", "message"],
}
_ERRORS = {
    "400": "The request does not fit (a value, a page token). A request the HTTP layer cannot "
    "parse at all (a request line or headers over 64 KiB, broken framing) is refused before it "
    "reaches labledger, in plain text.",
    "401": "No token, or a wrong, expired or revoked one.",
    "403": "The user's role does not allow this.",
    "404": "No such thing, or one the user may not see.",
    "409": "It exists already, differently; or the state forbids it.",
    "413": "The request body is over the server's limit.",
    "500": "An error the server did not expect; the hint names the request id to look up.",
    "503": "The catalog or the blob store does not answer, or needs `labledger migrate`.",
}


_UNPARSED = {"text/plain": {"schema": {"type": "string"}}}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, made once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema: dict[str, Any] = _positional_arrays(
        get_openapi(title=app.title, version=app.version, routes=app.routes)
    )
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        declared = route_permissions(route)
        operations = schema["paths"][route.path_format]
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            if len(declared) == 1:
                operation["x-labledger-permission"] = declared[0].describe()
            responses = operation.setdefault("responses", {})
            for status, description in _ERRORS.items():
                content = {**error, **_UNPARSED} if status == "400" else error
                responses.setdefault(status, {"description": description, "content": content})
    app.openapi_schema = schema
    return schema


def _positional_arrays(node: Any) -> Any:
    """``node`` with each ``prefixItems`` array schema written as an array whose items are any
    of its fields' types, of exactly their number, the fields named in order."""
    if isinstance(node, list):
        return [_positional_arrays(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _positional_arrays(value) for key, value in node.items()}
    fields = node.pop("prefixItems", None)
    if isinstance(fields, list):
        kinds: list[Any] = []
        for field in fields:
            kind = {key: value for key, value in field.items() if key != "title"}
            if kind not in kinds:
                kinds.append(kind)
        names = ", ".join(str(field.get("title", "?")) for field in fields)
        node["items"] = kinds[0] if len(kinds) == 1 else {"anyOf": kinds}
        node["minItems"] = node["maxItems"] = len(fields)
        order = f"A positional array: [{names}]."
        node["description"] = (
            f"{node['description']}\n\n{order}" if "description" in node else order
        )
    return node
