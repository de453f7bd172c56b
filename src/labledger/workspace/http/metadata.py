"""``HttpMetadataStore`` and ``HttpCollectionStore``: a server's metadata and collections, over
``/api/v1/metadata`` and ``/api/v1/collections``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel

from labledger.stores.metadata import Collection, MetadataField, SearchHit
from labledger.stores.pages import Page
from labledger.stores.wire import MemberRefIn, node_to_wire

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.stores.metadata import (
        MemberRef,
        SearchQuery,
        StoredValue,
        TargetKind,
        TargetRef,
    )
    from labledger.workspace.http.client import Client

__all__ = ["HttpCollectionStore", "HttpMetadataStore"]

_FIELDS = "/api/v1/metadata/fields"
_VALUES = "/api/v1/metadata/values"
_COLLECTIONS = "/api/v1/collections"


class _FieldPage(BaseModel):
    items: list[MetadataField]
    next_page_token: str | None


class _CollectionPage(BaseModel):
    items: list[Collection]
    next_page_token: str | None


class _Hits(BaseModel):
    items: list[SearchHit]


def _segment(value: str) -> str:
    return quote(value, safe="")


class HttpMetadataStore:
    """Metadata fields and values kept by a labledger server."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_fields(self, names: Sequence[str] | None = None) -> dict[str, MetadataField]:
        if names is not None and not names:
            return {}
        found: dict[str, MetadataField] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": 1000}
            if names is not None:
                params["name"] = list(names)
            if token is not None:
                params["page_token"] = token
            page: _FieldPage = self._client.call("GET", _FIELDS, model=_FieldPage, params=params)
            found.update((field.name, field) for field in page.items)
            token = page.next_page_token
            if token is None:
                return found

    def define_field(self, field: MetadataField) -> MetadataField:
        # Naturally idempotent: defining a field again with the same settings returns it.
        stored: MetadataField = self._client.call(
            "POST", _FIELDS, field, MetadataField, idempotent=True
        )
        return stored

    def update_field(self, field: MetadataField) -> MetadataField:
        route = f"{_FIELDS}/{_segment(field.name)}"
        stored: MetadataField = self._client.call(
            "PUT", route, field, MetadataField, idempotent=True
        )
        return stored

    def resolve_target(
        self, target: TargetRef, *, project_ids: Sequence[str] | None = None
    ) -> tuple[TargetKind, str]:
        # The server looks only among runs and artifacts the signed-in user reads.
        params: dict[str, Any] = (
            {"ref": target} if isinstance(target, str) else {"kind": target[0], "ref": target[1]}
        )
        if project_ids is not None:
            params["project_id"] = list(project_ids)
        found = self._client.call("GET", "/api/v1/metadata/targets", model=dict, params=params)
        return found["kind"], str(found["id"])

    def get_values(self, kind: TargetKind, target_id: str) -> dict[str, Any]:
        found = self._client.call("GET", f"{_VALUES}/{kind}/{_segment(target_id)}", model=dict)
        return dict(found["values"])

    def set_values(
        self, kind: TargetKind, target_id: str, values: Sequence[StoredValue]
    ) -> dict[str, Any]:
        from dataclasses import asdict

        body = {"values": [asdict(value) for value in values]}
        route = f"{_VALUES}/{kind}/{_segment(target_id)}"
        # Idempotent: the values replace those fields' earlier values.
        found = self._client.call("PUT", route, body, dict, idempotent=True)
        return dict(found["values"])

    def remove_value(self, kind: TargetKind, target_id: str, field: str) -> None:
        route = f"{_VALUES}/{kind}/{_segment(target_id)}/{_segment(field)}"
        self._client.call("DELETE", route)

    def search(self, query: SearchQuery) -> list[SearchHit]:
        body = {
            "text": query.text,
            "where": None if query.where is None else node_to_wire(query.where).model_dump(),
            "kinds": list(query.kinds),
            "limit": query.limit,
            "project_ids": None if query.project_ids is None else list(query.project_ids),
        }
        hits: _Hits = self._client.call(
            "POST", "/api/v1/metadata/search", body, _Hits, idempotent=True
        )
        return hits.items

    def reindex(self) -> int:
        found = self._client.call("POST", "/api/v1/metadata/reindex", model=dict, idempotent=True)
        return int(found["indexed"])


class HttpCollectionStore:
    """Collections kept by a labledger server.

    The server keeps every call to what the signed-in user reads; ``visible`` narrows it
    further.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @staticmethod
    def _params(
        project_id: str | None, visible: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        params: dict[str, Any] = {}
        if project_id is not None:
            params["project_id"] = project_id
        if visible is not None:
            params["visible"] = list(visible)
        return params or None

    def create(
        self, name: str, *, description: str, owner: str, project_id: str | None = None
    ) -> Collection:
        body = {"name": name, "description": description, "owner": owner}
        made: Collection = self._client.call(
            "POST", _COLLECTIONS, body, Collection, params=self._params(project_id)
        )
        return made

    def _members(
        self,
        name: str,
        suffix: str,
        members: Sequence[MemberRef],
        project_id: str | None,
        visible: Sequence[str] | None,
    ) -> Collection:
        body = {"members": [MemberRefIn.of(m).model_dump() for m in members]}
        route = f"{_COLLECTIONS}/{_segment(name)}/{suffix}"
        # Idempotent: members already in (or already out) are skipped.
        after: Collection = self._client.call(
            "POST",
            route,
            body,
            Collection,
            params=self._params(project_id, visible),
            idempotent=True,
        )
        return after

    def add_members(
        self,
        name: str,
        members: Sequence[MemberRef],
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        return self._members(name, "members", members, project_id, visible)

    def remove_members(
        self,
        name: str,
        members: Sequence[MemberRef],
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        return self._members(name, "members/remove", members, project_id, visible)

    def get(
        self,
        name: str,
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        found: Collection = self._client.call(
            "GET",
            f"{_COLLECTIONS}/{_segment(name)}",
            model=Collection,
            params=self._params(project_id, visible),
        )
        return found

    def list_page(
        self,
        *,
        page_token: str | None = None,
        max_results: int = 100,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Page[Collection]:
        params: dict[str, Any] = {
            "max_results": max_results,
            **(self._params(project_id, visible) or {}),
        }
        if page_token is not None:
            params["page_token"] = page_token
        page: _CollectionPage = self._client.call(
            "GET", _COLLECTIONS, model=_CollectionPage, params=params
        )
        return Page(page.items, page.next_page_token)

    def containing(
        self, kind: str, member_id: str, *, visible: Sequence[str] | None = None
    ) -> list[str]:
        # No route of its own yet: read the pages and look (collections are few).
        names: list[str] = []
        token: str | None = None
        while True:
            page = self.list_page(page_token=token, max_results=1000, visible=visible)
            names += [
                c.name
                for c in page.items
                if any(m.kind == kind and m.id == member_id for m in c.members)
            ]
            if page.next_token is None:
                return sorted(names)
            token = page.next_token

    def delete(self, name: str, *, project_id: str | None = None) -> None:
        self._client.call(
            "DELETE", f"{_COLLECTIONS}/{_segment(name)}", params=self._params(project_id)
        )
