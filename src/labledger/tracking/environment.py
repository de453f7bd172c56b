"""What a run ran on: Python, platform, installed packages, hardware, and the git state.

Captured once per process (packages and hardware do not change under a running interpreter), so
starting a run stays cheap; the git state is re-read at most every few seconds. Installed
distributions are read from the header of their metadata only: the long description after it, which
``importlib.metadata`` parses in full on every access, is most of the bytes.
"""

from __future__ import annotations

import email.parser
import functools
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "Distribution",
    "GitState",
    "capture_environment",
    "git_state",
    "installed_distributions",
]

_GIT_TTL_S = 5.0
_git_cache: dict[str, tuple[float, GitState]] = {}
_git_lock = threading.Lock()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Distribution:
    """An installed distribution: its name as declared, version and requirements (as written)."""

    name: str
    version: str
    requires: tuple[str, ...]


def _headers(dist: metadata.Distribution) -> Any:
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("") or ""
    head = text.replace("\r\n", "\n").split("\n\n", 1)[0]
    return email.parser.HeaderParser().parsestr(head)


@functools.cache
def installed_distributions() -> tuple[Distribution, ...]:
    """Every installed distribution with a name, in ``importlib.metadata`` order, read once."""
    found = []
    for dist in metadata.distributions():
        headers = _headers(dist)
        name = headers.get("Name")
        if not name:
            continue
        requires = headers.get_all("Requires-Dist") or []
        if not requires and dist.read_text("requires.txt"):
            requires = dist.requires or []  # an egg-info distribution
        found.append(Distribution(str(name), str(headers.get("Version")), tuple(requires)))
    return tuple(found)


@functools.cache
def capture_environment() -> dict[str, Any]:
    """The interpreter, platform, package lock and hardware of this process."""
    packages = sorted(
        {f"{dist.name}=={dist.version}" for dist in installed_distributions()}, key=str.lower
    )
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
        },
        "hardware": {"cpus": os.cpu_count(), "memory_bytes": _memory_bytes(), "gpus": _gpus()},
        "packages": packages,
    }


class GitState(tuple[str | None, bool | None]):
    """(commit, dirty) of the repository around the working directory, or (None, None)."""

    __slots__ = ()

    @property
    def commit(self) -> str | None:
        return self[0]

    @property
    def dirty(self) -> bool | None:
        return self[1]


def _read_git(folder: str) -> GitState:
    git = shutil.which("git")
    if git is None:
        return GitState((None, None))
    try:
        commit = subprocess.run(
            [git, "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if commit.returncode != 0:
            return GitState((None, None))
        status = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return GitState((None, None))
    return GitState((commit.stdout.strip(), bool(status.stdout.strip())))


def git_state(folder: str | Path | None = None) -> GitState:
    """The git commit and dirty flag of ``folder`` (default: the working directory)."""
    key = str(folder or Path.cwd())
    now = time.monotonic()
    with _git_lock:
        cached = _git_cache.get(key)
        if cached is not None and now - cached[0] < _GIT_TTL_S:
            return cached[1]
    state = _read_git(key)
    with _git_lock:
        _git_cache[key] = (now, state)
    return state
