"""Foundation: digests, canonical JSON, ids, errors and settings. Imports nothing else of labledger."""

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.digests import digest_bytes, digest_file, digest_record, parse_digest
from labledger._foundation.ids import new_id

__all__ = [
    "canonical_json",
    "canonical_text",
    "digest_bytes",
    "digest_file",
    "digest_record",
    "new_id",
    "parse_digest",
]
