"""``StoreSpec``: what it takes to open a workspace's blob store, and nothing else.

A workspace's ``Settings`` also name its catalog, whose URL may hold a database password. Processes
that only read and write blobs (Dask workers) get a ``StoreSpec`` instead: the store's URL, the S3
endpoint, the link mode and the verify-on-read flag. Store credentials are never part of it: each
process finds its own (for S3, the ``AWS_*`` environment variables, a profile or an instance role,
as fsspec and s3fs look them up; for a workspace reached through a labledger server, whose blobs
are the server's, ``LABLEDGER_TOKEN`` or the token ``labledger login`` saved).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labledger._foundation.settings import DEFAULT_STORE_LINK, NO_STORE
from labledger.workspace.local_store import LocalBlobStore

if TYPE_CHECKING:
    from labledger._foundation.settings import Settings, StoreLink
    from labledger.workspace.blobstore import BlobStore

__all__ = ["StoreSpec"]


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """Where a blob store is and how to open it; safe to send to another process.

    Attributes:
        url: Folder path or fsspec URL of the blob store.
        s3_endpoint_url: Endpoint of an S3-compatible server, when not AWS.
        verify_on_read: Re-hash blobs as they are read.
        link: How a folder store takes in local files (``STORE_LINKS``).
        server: Whether ``url`` is a labledger server, whose blob store is reached through it.
    """

    url: str
    s3_endpoint_url: str | None = None
    verify_on_read: bool = False
    link: StoreLink = DEFAULT_STORE_LINK
    server: bool = False

    @classmethod
    def of(cls, settings: Settings) -> StoreSpec:
        """The store part of a workspace's settings (never its catalog)."""
        return cls(
            url=settings.store_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            verify_on_read=settings.verify_on_read,
            link=settings.store_link,
            server=settings.server_url is not None,
        )

    def open(self) -> BlobStore:
        """Build the blob store: a folder, an fsspec URL such as S3, or a server's."""
        url = self.url
        if url == NO_STORE:
            from labledger.workspace.no_store import NoBlobStore

            return NoBlobStore()
        if self.server:
            from labledger.workspace.http.blobs import HttpBlobStore
            from labledger.workspace.http.client import Client
            from labledger.workspace.http.credentials import token_for

            # Opened where a task runs (a Dask worker), with that machine's own token.
            hint = (
                f"this process on {socket.gethostname()} reads and writes the blobs of {url} "
                "with a token of its own: set LABLEDGER_TOKEN in its environment (for Dask, in "
                f"the workers'), or run `labledger login {url}` on this machine"
            )
            return HttpBlobStore(Client(url, token=token_for(url), login_hint=hint))
        if "://" not in url or url.startswith("file://"):
            return LocalBlobStore(
                url.removeprefix("file://"), verify_on_read=self.verify_on_read, link=self.link
            )
        from labledger.workspace.fsspec_store import FsspecBlobStore

        options: dict[str, Any] = {}
        if self.s3_endpoint_url:
            options["endpoint_url"] = self.s3_endpoint_url
        return FsspecBlobStore(url, storage_options=options, verify_on_read=self.verify_on_read)
