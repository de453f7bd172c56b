"""One durable point for many files: sync the filesystem that holds a folder.

Writing thousands of small blobs with an ``fsync`` each costs a journal commit per file. A batch of
writers can instead skip the per-file flush and call ``sync_folder`` once before anything that
references the files is committed: on Linux that is ``syncfs(2)`` on the folder's filesystem,
elsewhere a global ``sync``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["sync_folder"]


@functools.cache
def _syncfs() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


def sync_folder(folder: Path) -> None:
    """Make every write to files under ``folder`` durable."""
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
