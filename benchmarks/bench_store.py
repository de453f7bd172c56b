"""Adding a large file: labledger's blob store against ``dvc add``, with hashing and copying as yardsticks.

One random file (1 GiB by default, ``--size-mib`` for less) is written once; every workload then stores
it into a fresh destination (a new workspace, a new DVC repository), first *cold* and then *warm*.

labledger is measured in its default link mode (``reflink``: a copy-on-write clone where the
filesystem can clone, else a copy) and in ``hardlink`` mode, next to ``dvc add`` with DVC's default
cache type (``reflink,copy``) and with ``cache.type hardlink``. The table says which of clone or copy
the default mode did on the measured filesystem.

* cold: the source was fsynced and evicted from the page cache with ``posix_fadvise(DONTNEED)``, so
  it is read from the disk (the VM's host may still cache it; that cannot be controlled from here);
* warm: the source is already in the page cache.

Each figure is the median of ``--repeat`` runs (3 by default).

Destinations are deleted and ``sync`` is called between workloads, so one workload's write-back does
not land in the next one's time. Throughput is in decimal GB/s (1e9 bytes/s) of the source's size.

Run: ``.venv-bench/bin/python benchmarks/bench_store.py [--size-mib 1024] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import fcntl
import mmap
import os
import shutil
import statistics
import warnings
from typing import TYPE_CHECKING

from rich.table import Table

from _common import (
    GB,
    MachineInfo,
    Result,
    console,
    dvc_executable,
    format_value,
    print_header,
    print_results,
    remove_tree,
    run_quiet,
    scratch_dir,
    timed,
    write_json,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labledger._foundation.settings import StoreLink

TARGET_GB_S = 1.5
CHUNK = 64 * 1024 * 1024
STATES = ("cold", "warm")


def write_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        left = size
        while left:
            chunk = min(CHUNK, left)
            handle.write(os.urandom(chunk))
            left -= chunk
        handle.flush()
        os.fsync(handle.fileno())


def copy_direct(source: Path, target: Path) -> None:
    """Copy with direct I/O straight from the mapped source, then fsync: a durable copy's ceiling."""
    size = source.stat().st_size
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    try:
        with open(source, "rb") as src, mmap.mmap(src.fileno(), size, prot=mmap.PROT_READ) as data:
            view = memoryview(data)
            aligned = size - size % mmap.PAGESIZE
            offset = 0
            while offset < aligned:
                offset += os.pwrite(fd, view[offset : min(offset + CHUNK, aligned)], offset)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            while offset < size:
                offset += os.pwrite(fd, view[offset:size], offset)
            view.release()
        os.fsync(fd)
    finally:
        os.close(fd)


def evict(path: Path) -> None:
    """Write the file's pages back and drop them from the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm(path: Path) -> None:
    """Read the whole file so it sits in the page cache."""
    with open(path, "rb") as handle:
        while handle.read(CHUNK):
            pass


def prepare(path: Path, state: str) -> None:
    os.sync()
    if state == "cold":
        evict(path)
    else:
        warm(path)


def dvc_env(scratch: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(scratch / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(scratch / "dvc-global-config"),
    }


class Workloads:
    """Each method stores ``source`` once into a fresh destination and returns its seconds."""

    def __init__(self, source: Path, scratch: Path) -> None:
        self.source = source
        self.scratch = scratch
        self.dvc = dvc_executable()
        self.env = dvc_env(scratch)

    def fresh(self, name: str) -> Path:
        folder = self.scratch / name
        remove_tree(folder)
        folder.mkdir()
        return folder

    def hash_only(self, state: str) -> float:
        from labledger._foundation.digests import digest_file

        prepare(self.source, state)
        with timed() as watch:
            digest_file(self.source)
        return watch.seconds

    def copy(self, state: str, *, fsync: bool) -> float:
        target = self.fresh("copy") / "bigfile"
        prepare(self.source, state)
        with timed() as watch:
            shutil.copyfile(self.source, target)
            if fsync:
                fd = os.open(target, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        return watch.seconds

    def copy_direct(self, state: str) -> float:
        target = self.fresh("copy") / "bigfile"
        prepare(self.source, state)
        with timed() as watch:
            copy_direct(self.source, target)
        return watch.seconds

    def put_file(self, state: str, *, fsync: bool, link: StoreLink | None = None) -> float:
        """``put_file`` into a new workspace's store; ``link`` overrides its default link mode."""
        from labledger.workspace.local_store import LocalBlobStore
        from labledger.workspace.workspace import Workspace

        folder = self.fresh("labledger")
        store = (
            Workspace.init(folder).store
            if fsync
            else LocalBlobStore(folder / "objects", fsync=False)
        )
        assert isinstance(store, LocalBlobStore)
        prepare(self.source, state)
        with timed() as watch:
            store.put_file(self.source, link=link)
        return watch.seconds

    def default_link_does(self) -> str:
        """What the default link mode does on the scratch filesystem: ``clone`` or ``copy``."""
        from labledger.workspace.file_transfer import clone_file

        first, second = self.scratch / "clone-probe-a", self.scratch / "clone-probe-b"
        first.write_bytes(b"probe")
        try:
            with first.open("rb") as source, second.open("wb") as target:
                return "clone" if clone_file(source.fileno(), target.fileno()) else "copy"
        finally:
            first.unlink()
            second.unlink()

    def log_artifact(self, state: str) -> float:
        from labledger.tracking import start_run
        from labledger.workspace.workspace import Workspace

        workspace = Workspace.init(self.fresh("labledger"))
        with start_run("store-bench", workspace=workspace) as run:
            prepare(self.source, state)
            with timed() as watch:
                run.log_artifact(self.source)
        workspace.close()
        return watch.seconds

    def dvc_add(self, state: str, cache_type: str | None = None) -> float:
        repo = self.fresh("dvc")
        run_quiet([self.dvc, "init", "--no-scm", "-q"], repo, self.env)
        if cache_type:
            run_quiet([self.dvc, "config", "cache.type", cache_type], repo, self.env)
        target = repo / "bigfile"
        shutil.copyfile(self.source, target)
        prepare(target, state)
        return run_quiet([self.dvc, "add", "-q", "bigfile"], repo, self.env)

    def dvc_startup(self) -> float:
        return min(run_quiet([self.dvc, "version"], self.scratch, self.env) for _ in range(3))

    def clean(self) -> None:
        for name in ("copy", "labledger", "dvc"):
            remove_tree(self.scratch / name)
        os.sync()


def measure(
    work: Workloads, label: str, action: Callable[[str], float], size: int, repeat: int
) -> dict[str, float]:
    """GB/s, the median of ``repeat`` runs, cold and then warm."""
    figures = {}
    for state in STATES:
        runs = []
        for _ in range(repeat):
            runs.append(action(state))
            work.clean()
        seconds = statistics.median(runs)
        figures[state] = size / seconds / GB
        each = ", ".join(format_value(s, "s") for s in runs)
        console.print(f"  {label:<18} {state}: {figures[state]:5.2f} GB/s  ({each})")
    return figures


# (key, label, note, has the target, peer key): labledger's workloads, each against a `dvc add`.
OURS = (
    (
        "put_file",
        "store.put_file, default link mode (durable: fsync)",
        "reflink: {default} on this filesystem",
        True,
        "dvc",
    ),
    (
        "put_file_hardlink",
        "store.put_file(link='hardlink') (durable: fsync)",
        "opt-in: the file itself becomes the blob, made read-only",
        True,
        "dvc_hardlink",
    ),
    (
        "log_artifact",
        "log_artifact(path) in a run, default link mode",
        "put_file + catalog rows + ledger entry",
        True,
        "dvc",
    ),
    (
        "put_file_no_fsync",
        "put_file with fsync=False, default link mode",
        "NOT durable: shows what fsync costs",
        False,
        "dvc",
    ),
)
PEER_NOTES = {
    "dvc": "dvc add, default cache type (reflink,copy), incl. start-up",
    "dvc_hardlink": "dvc add, cache.type hardlink, incl. start-up",
}
YARDSTICKS = (
    ("hash", "BLAKE3 hash only (digest_file)"),
    ("copy", "file copy (shutil.copyfile)"),
    ("copy_fsync", "file copy + fsync"),
    ("copy_direct", "file copy, direct I/O from the mapped file + fsync"),
)


def bench(size: int, tmp: str | None, keep: bool, repeat: int) -> tuple[list[Result], list[Result]]:
    with scratch_dir(tmp, "bench-store-", keep=keep) as scratch:
        source = scratch / "bigfile"
        with timed() as watch:
            write_random_file(source, size)
        console.print(f"wrote {size / 2**20:,.0f} MiB of random bytes in {watch.seconds:.1f} s")
        work = Workloads(source, scratch)
        default = work.default_link_does()
        console.print(f"the default link mode (reflink) makes a {default} on this filesystem")
        actions: dict[str, Callable[[str], float]] = {
            "put_file": lambda state: work.put_file(state, fsync=True),
            "put_file_hardlink": lambda state: work.put_file(state, fsync=True, link="hardlink"),
            "log_artifact": work.log_artifact,
            "put_file_no_fsync": lambda state: work.put_file(state, fsync=False),
            "dvc": work.dvc_add,
            "dvc_hardlink": lambda state: work.dvc_add(state, "hardlink"),
            "hash": work.hash_only,
            "copy": lambda state: work.copy(state, fsync=False),
            "copy_fsync": lambda state: work.copy(state, fsync=True),
            "copy_direct": work.copy_direct,
        }
        figures = {key: measure(work, key, action, size, repeat) for key, action in actions.items()}
        startup = work.dvc_startup()
        console.print(f"  dvc start-up (`dvc version`, best of 3): {format_value(startup, 's')}")

    results = [
        Result(
            f"{state} source",
            f"{label}, {state}",
            figures[key][state],
            figures[peer][state],
            "GB/s",
            TARGET_GB_S if has_target else None,
            note=note.format(default=default),
            peer_note=PEER_NOTES[peer],
        )
        for state in STATES
        for key, label, note, has_target, peer in OURS
    ]
    yardsticks = [
        Result("yardstick", f"{label}, {state}", figures[key][state], None, "GB/s")
        for key, label in YARDSTICKS
        for state in STATES
    ]
    yardsticks.append(Result("yardstick", "dvc start-up (dvc version)", startup, None, "s"))
    return results, yardsticks


def print_references(results: list[Result]) -> None:
    table = Table(title="Yardsticks (no peer, no target)", title_justify="left")
    table.add_column("workload")
    table.add_column("figure", justify="right")
    for result in results:
        table.add_row(result.name, format_value(result.ours, result.unit))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the test file")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per workload and cache state (median)"
    )
    parser.add_argument(
        "--tmp", help="scratch folder on the disk to measure (default: system temp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    info = MachineInfo.collect(["labledger", "dvc", "blake3"])
    print_header("labledger vs DVC: adding a large file", info)
    results, references = bench(args.size_mib * 2**20, args.tmp, args.keep, args.repeat)
    print_results(f"labledger vs DVC, {args.size_mib:,} MiB file", "DVC", results)
    print_references(references)
    console.print(
        "ratio: how many times faster labledger is than `dvc add` (DVC's figure includes its "
        "process start-up, shown under yardsticks)."
    )
    write_json(args.json, info, results + references, size_mib=args.size_mib)


if __name__ == "__main__":
    main()
