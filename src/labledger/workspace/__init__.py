"""Workspace: the catalog (SQL), the content-addressed blob store and the ledger, behind one door."""

from labledger.workspace.blobstore import BlobStore
from labledger.workspace.current import get_workspace, set_workspace
from labledger.workspace.ledger import LedgerEntry
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore
from labledger.workspace.workspace import Workspace

__all__ = [
    "BlobStore",
    "LedgerEntry",
    "LocalBlobStore",
    "MemoryBlobStore",
    "Workspace",
    "get_workspace",
    "set_workspace",
]
