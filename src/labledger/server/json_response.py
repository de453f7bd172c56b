"""Answers written straight from their models.

A route that returns a model has FastAPI validate it against the route's response model again
before writing it, and for a route that runs in the thread pool, that check takes one more trip
there. On the hot read routes (a page of runs is about 100 runs with their params, metrics and
tags) that is a second wait for a thread and for the GIL per request under load. Those routes
return ``json_response(model)`` instead: the model as built (so already valid), written to JSON by
pydantic in the route's own thread. The route still names its response model, for the OpenAPI
document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Response

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["json_response"]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` as a JSON answer (by alias, as FastAPI writes response models)."""
    return Response(
        model.model_dump_json(by_alias=True),
        status_code=status_code,
        media_type="application/json",
    )
