"""The HTTP backend: a labledger server's ``/api/v1`` behind the same store Protocols as SQL.

``LABLEDGER_URI=http(s)://host:port`` opens a ``RemoteWorkspace`` whose ``stores`` are
``HttpStores`` (lineage, metadata, collections, identity) and whose blob store reads through the
server. ``Client`` maps the server's error bodies back to labledger's errors.
"""

from labledger.workspace.http.client import Client
from labledger.workspace.http.stores import HttpStores

__all__ = ["Client", "HttpStores"]
