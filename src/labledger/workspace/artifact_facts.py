"""An artifact's creation time, statistics and schema, held to the entry that produced it.

A name finds the newest artifact of that name, so whoever can rewrite ``created_at`` chooses what
``labledger artifacts show NAME`` and ``get_artifact(name)`` answer; the statistics a materializer
records (rows, column summaries) and the schema are what a reader trusts about a value without
loading it. So, since they were added, produced entries say them:

- ``artifact.produced``: ``created_at`` as stored, and ``schema_digest`` and ``stats_digest``, the
  digests of the canonical JSON of the schema and the stats, which is the text the catalog stores
  (``schema_json``, ``stats_json``);
- ``artifacts.produced``: lists ``created_at`` and ``stats_digest``, in the order of its
  ``artifacts`` (the run's seal holds the schemas of a run's artifacts).

An entry without one of these keys (written before) holds the artifact to nothing on that fact; a
key that is there holds it, whatever its value.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from labledger._foundation.digests import digest_bytes, digest_record

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FACT_KEYS", "fact_problems", "listed_facts", "said_facts", "stored_digest"]

FACT_KEYS = ("created_at", "schema_digest", "stats_digest")
# The fact a digest key holds -> the catalog column that stores it.
_DOCUMENTS = {"schema_digest": ("schema", "schema_json"), "stats_digest": ("stats", "stats_json")}
_LISTED = ("created_at", "stats_digest")


def stored_digest(text: Any) -> str | None:
    """The digest of a stored JSON text (``schema_json`` or ``stats_json``): that of its bytes,
    which for the canonical JSON the catalog writes is the digest of the document. ``None`` for a
    value that is no text at all."""
    if isinstance(text, bytes):
        return digest_bytes(text)
    if not isinstance(text, str):
        return None
    # A lone surrogate cannot have been written by labledger; it digests, and so differs.
    return digest_bytes(text.encode("utf-8", "surrogatepass"))


def said_facts(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What an ``artifact.produced`` payload says of these facts: the keys it has."""
    return {key: payload[key] for key in FACT_KEYS if key in payload}


def listed_facts(payload: Mapping[str, Any], position: int) -> dict[str, Any]:
    """What an ``artifacts.produced`` payload says of the artifact at ``position`` of its
    ``artifacts``: each list it has gives that artifact's value (``None`` where a list is too
    short or no list, so a garbled entry still holds the artifact)."""
    said: dict[str, Any] = {}
    for key in _LISTED:
        if key in payload:
            values = payload[key]
            ok = isinstance(values, list) and position < len(values)
            said[key] = values[position] if ok else None
    return said


def fact_problems(name: Any, row: Mapping[str, Any], said: Mapping[str, Any]) -> list[str]:
    """Why an artifact's row (``created_at``, ``schema_json``, ``stats_json``) disagrees with what
    its entry says of them (``said_facts`` or ``listed_facts``); none when it agrees."""
    reasons: list[str] = []
    if "created_at" in said and _differs(said["created_at"], row["created_at"]):
        reasons.append(
            f"artifact {name!r}: its created_at reads {_when(row['created_at'])}, but the entry "
            f"that produced it says {_when(said['created_at'])}: a name finds the newest artifact "
            "of that name, so this changes which one it finds"
        )
    for key, (fact, column) in _DOCUMENTS.items():
        if key in said and not _same_document(said[key], row[column]):
            reasons.append(
                f"artifact {name!r}: its {fact} changed after the entry that produced it: the "
                f"stored {column} hashes to {_document_digest(row[column])}, the entry says "
                f"{said[key]}"
            )
    return reasons


def _differs(said: Any, stored: Any) -> bool:
    if isinstance(said, bool) or isinstance(stored, bool):
        return True  # a time is never a flag
    return bool(said != stored)


def _same_document(said: Any, text: Any) -> bool:
    if said == stored_digest(text):
        return True
    # The same document written another way (keys reordered, spaces): nothing changed.
    return bool(said == _document_digest(text))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members, refusing a key given twice: readers disagree on which one counts (this
    one keeps the last, others the first), so such a text is never the document an entry names."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key is given twice")
    return document


def _document_digest(text: Any) -> str | None:
    """The digest of the document a stored text holds, in canonical JSON; for a text that is no
    JSON, or has a key twice, that of its bytes."""
    try:
        return digest_record(json.loads(text, object_pairs_hook=_unique_keys))
    except (TypeError, ValueError, RecursionError):
        return stored_digest(text)


def _when(value: Any) -> str:
    """A stored time as the column holds it, and as a reader reads it."""
    try:
        shown = dt.datetime.fromtimestamp(value, tz=dt.UTC).isoformat(timespec="microseconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(value)
    return f"{value!r} ({shown})"
