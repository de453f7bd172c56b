"""The SQL metadata store: field definitions and the values attached to runs and artifacts.

A value is stored as a number (``value_num``), a text (``value_text``) or both. Each write is one
transaction with its ledger entry, and keeps the target's search document current.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import ConflictError, NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.stores.metadata import MetadataField, unknown_field
from labledger.workspace import schema
from labledger.workspace.search_index import refresh_document, reindex_all
from labledger.workspace.sql.targets import resolve_target

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.stores.metadata import (
        SearchHit,
        SearchQuery,
        StoredValue,
        TargetKind,
        TargetRef,
    )
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlMetadataStore", "field_from_row", "load_fields"]

_fields, _values = schema.metadata_fields, schema.metadata_values
# The settings a field is defined with, as compared when it is defined again.
_SETTINGS = ("type", "unit", "minimum", "maximum", "choices", "required", "applies_to")


class SqlMetadataStore:
    """``MetadataStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def get_fields(self, names: Sequence[str] | None = None) -> dict[str, MetadataField]:
        with self._workspace.read() as conn:
            return load_fields(conn, names)

    def define_field(self, field: MetadataField) -> MetadataField:
        ws = self._workspace
        with ws.write() as conn:
            existing = load_fields(conn, [field.name]).get(field.name)
            if existing is not None:
                changed = [
                    key
                    for key in (*_SETTINGS, "description")
                    if getattr(existing, key) != getattr(field, key)
                ]
                if not changed:
                    return existing
                raise ConflictError(
                    f"metadata field {field.name!r} is already defined with other "
                    f"{', '.join(changed)}",
                    hint="change it with update_field() (description, unit, bounds, choices, "
                    "required, applies_to); a field's type cannot change",
                )
            made = dataclasses.replace(field, id=new_id(), created_at=time.time())
            conn.execute(
                _fields.insert(),
                {"id": made.id, "created_at": made.created_at, **_row_values(made)},
            )
            ws.record(
                conn,
                "metadata.field_defined",
                f"field:{made.id}",
                {"field_id": made.id, **_row_values(made)},
            )
        return made

    def update_field(self, field: MetadataField) -> MetadataField:
        ws = self._workspace
        with ws.write() as conn:
            current = load_fields(conn, [field.name]).get(field.name)
            if current is None:
                raise unknown_field(field.name)
            if current.type != field.type:
                raise ValidationError(
                    f"metadata field {field.name!r} is {current.type}; a field's type cannot "
                    "change",
                    hint="define a new field with the other type",
                )
            updated = dataclasses.replace(field, id=current.id, created_at=current.created_at)
            if updated == current:
                return current
            _check_stored_values(conn, current, updated)
            conn.execute(
                sa.update(_fields).where(_fields.c.id == current.id).values(**_row_values(updated))
            )
            ws.record(
                conn,
                "metadata.field_updated",
                f"field:{current.id}",
                {"field_id": current.id, **_row_values(updated)},
            )
        return updated

    def resolve_target(
        self, target: TargetRef, *, project_ids: Sequence[str] | None = None
    ) -> tuple[TargetKind, str]:
        with self._workspace.read() as conn:
            return resolve_target(conn, target, among=project_ids)

    def get_values(self, kind: TargetKind, target_id: str) -> dict[str, Any]:
        with self._workspace.read() as conn:
            return _read(conn, kind, target_id)

    def set_values(
        self, kind: TargetKind, target_id: str, values: Sequence[StoredValue]
    ) -> dict[str, Any]:
        ws = self._workspace
        with ws.write() as conn:
            if not values:
                return _read(conn, kind, target_id)
            fields = load_fields(conn, [value.field for value in values])
            rows, shown = [], {}
            now = time.time()
            for value in values:
                field = fields.get(value.field)
                if field is None:
                    raise unknown_field(value.field)
                shown[field.name] = value.number if field.type == "number" else value.text
                rows.append(
                    {
                        "field_id": field.id,
                        "target_kind": kind,
                        "target_id": target_id,
                        "value_num": value.number,
                        "value_text": value.text,
                        "updated_at": now,
                    }
                )
            # Recorded first: on PostgreSQL the ledger's lock then orders the writes that follow.
            ws.record(
                conn,
                "metadata.set",
                f"{kind}:{target_id}",
                {"target_kind": kind, "target_id": target_id, "values": shown},
            )
            ws.upsert(conn, _values, rows, ["field_id", "target_kind", "target_id"])
            refresh_document(conn, kind, target_id)
            return _read(conn, kind, target_id)

    def remove_value(self, kind: TargetKind, target_id: str, field: str) -> None:
        ws = self._workspace
        with ws.write() as conn:
            found = load_fields(conn, [field]).get(field)
            if found is None:
                raise unknown_field(field)
            deleted = conn.execute(
                sa.delete(_values).where(
                    _values.c.field_id == found.id,
                    _values.c.target_kind == kind,
                    _values.c.target_id == target_id,
                )
            ).rowcount
            if not deleted:
                raise NotFoundError(
                    f"{kind} {target_id} has no value for metadata field {field!r}",
                    hint="show its metadata with `labledger metadata show`",
                )
            refresh_document(conn, kind, target_id)
            ws.record(
                conn,
                "metadata.removed",
                f"{kind}:{target_id}",
                {"target_kind": kind, "target_id": target_id, "field": field},
            )

    def search(self, query: SearchQuery) -> list[SearchHit]:
        from labledger.workspace.sql.search import run_search

        with self._workspace.read() as conn:
            return run_search(conn, query)

    def reindex(self) -> int:
        with self._workspace.write() as conn:
            return reindex_all(conn)


def field_from_row(row: Row[Any]) -> MetadataField:
    """A field from its ``metadata_fields`` row."""
    choices = json.loads(row.choices_json) if row.choices_json else None
    return MetadataField(
        name=row.name,
        type=row.type,
        unit=row.unit,
        minimum=row.minimum,
        maximum=row.maximum,
        choices=tuple(choices) if choices is not None else None,
        required=bool(row.required),
        applies_to=row.applies_to,
        description=row.description,
        id=row.id,
        created_at=row.created_at,
    )


def _row_values(field: MetadataField) -> dict[str, Any]:
    return {
        "name": field.name,
        "type": field.type,
        "unit": field.unit,
        "minimum": field.minimum,
        "maximum": field.maximum,
        "choices_json": json.dumps(list(field.choices)) if field.choices is not None else None,
        "required": field.required,
        "applies_to": field.applies_to,
        "description": field.description,
    }


def load_fields(conn: Connection, names: Sequence[str] | None = None) -> dict[str, MetadataField]:
    """Fields by name: all of them, or those among ``names`` that exist."""
    query = sa.select(_fields).order_by(_fields.c.name)
    if names is not None:
        query = query.where(_fields.c.name.in_(list(names)))
    return {row.name: field_from_row(row) for row in conn.execute(query)}


def _read(conn: Connection, kind: str, id_: str) -> dict[str, Any]:
    query = (
        sa.select(_fields.c.name, _fields.c.type, _values.c.value_num, _values.c.value_text)
        .select_from(_values.join(_fields, _values.c.field_id == _fields.c.id))
        .where(_values.c.target_kind == kind, _values.c.target_id == id_)
        .order_by(_fields.c.name)
    )
    return {
        row.name: row.value_num if row.type == "number" else row.value_text
        for row in conn.execute(query)
    }


def _check_stored_values(conn: Connection, old: MetadataField, new: MetadataField) -> None:
    of_field = _values.c.field_id == old.id

    def count(*conditions: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count()).select_from(_values).where(of_field, *conditions)
        return int(conn.execute(query).scalar_one())

    outside = []
    if new.minimum is not None:
        outside.append(_values.c.value_num < new.minimum)
    if new.maximum is not None:
        outside.append(_values.c.value_num > new.maximum)
    if outside and (bad := count(sa.or_(*outside))):
        raise ValidationError(
            f"cannot set the bounds of field {old.name!r} to {new.bounds_text()}: "
            f"{bad} stored value(s) lie outside",
            hint="change or remove those values first, or choose bounds that hold them",
        )
    if new.choices is not None and (bad := count(_values.c.value_text.not_in(new.choices))):
        raise ValidationError(
            f"cannot limit field {old.name!r} to choices {', '.join(new.choices)}: "
            f"{bad} stored value(s) use another choice",
            hint="keep every choice in use, or change those values first",
        )
    if new.applies_to != "both" and (bad := count(_values.c.target_kind != new.applies_to)):
        raise ValidationError(
            f"cannot make field {old.name!r} apply to {new.applies_to} only: "
            f"{bad} stored value(s) belong to other kinds",
            hint="remove those values first with remove_metadata()",
        )
