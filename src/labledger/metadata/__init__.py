"""Metadata, search and collections: typed fields with values on runs and artifacts, full-text and
field search over them, and curated collections.

Define a field once (``define_field("concentration_um", "number", unit="uM", minimum=0)``), attach
checked values with ``set_metadata(run_id, {...})``, find things with
``search("HeLa", where="concentration_um > 10")`` and gather them with ``create_collection`` and
``add_to_collection``.
"""

from labledger.metadata.collections import (
    Collection,
    CollectionMember,
    add_to_collection,
    create_collection,
    delete_collection,
    get_collection,
    list_collections,
    remove_from_collection,
)
from labledger.metadata.fields import (
    UNSET,
    MetadataField,
    define_field,
    get_field,
    list_fields,
    update_field,
)
from labledger.metadata.searching import SearchHit, reindex, search
from labledger.metadata.values import get_metadata, missing_required, remove_metadata, set_metadata
from labledger.workspace.search_index import index_run, refresh_document

__all__ = [
    "UNSET",
    "Collection",
    "CollectionMember",
    "MetadataField",
    "SearchHit",
    "add_to_collection",
    "create_collection",
    "define_field",
    "delete_collection",
    "get_collection",
    "get_field",
    "get_metadata",
    "index_run",
    "list_collections",
    "list_fields",
    "missing_required",
    "refresh_document",
    "reindex",
    "remove_from_collection",
    "remove_metadata",
    "search",
    "set_metadata",
    "update_field",
]
