"""Sets of ids as one JSON parameter, so a query can take thousands of them.

``IN (:a, :b, ...)`` with one parameter per id runs into the database's parameter limit (999 on
older SQLite) and, on PostgreSQL, gives the planner a row estimate it cannot trust for a
computed set. One JSON array expanded by ``json_each`` (SQLite) or ``json_array_elements_text``
(PostgreSQL) has neither problem, and joins to indexed ids by nested index lookups.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Text, bindparam, cast, func, select

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection, Select

__all__ = ["id_set"]


def id_set(conn: Connection, ids: Iterable[str], name: str = "ids") -> Select[Any]:
    """A one-column select of ``ids``, for ``column.in_(id_set(...))``.

    Args:
        conn: The connection the statement will run on (its dialect picks the JSON function).
        ids: The ids.
        name: The parameter's name; give each set in one statement its own.
    """
    payload = bindparam(name, json.dumps(sorted(set(ids))), type_=Text)
    if conn.dialect.name == "postgresql":
        values = func.json_array_elements_text(cast(payload, JSON)).table_valued("value")
    else:
        values = func.json_each(payload).table_valued("value")
    return select(values.c.value)
