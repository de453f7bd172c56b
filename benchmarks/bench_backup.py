"""Backing up a workspace: ``labledger backup`` against a plain ``cp -r`` of its objects folder.

A workspace of ``--artifacts`` random artifacts of ``--size-mib`` MiB each (256 x 4 MiB = 1 GiB by
default) is made once; then each workload runs ``--repeat`` times (median):

* full backup: ``backup_workspace`` into a new folder: the catalog snapshot, every blob copied while
  hashed and flushed (fsync), then the backup verified (each copied blob re-hashed from the backup);
* ``cp -r``: the peer, copying the objects folder alone (no catalog, no fsync, no check), and the same
  followed by ``sync`` so its data is on the disk as the backup's is;
* incremental, nothing new: a second backup into the same folder (target: under 1 s);
* incremental with ``rehash_all``: the same, re-hashing every blob the backup holds;
* restore: ``restore_workspace`` into a new folder (every blob copied and re-hashed).

``sync`` runs between workloads so one workload's write-back does not land in the next one's time.
The source stays in the page cache (warm), as it is on a machine that just wrote it.

Run: ``python benchmarks/bench_backup.py [--artifacts 256] [--size-mib 4] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import warnings
from typing import TYPE_CHECKING

from _common import (
    MachineInfo,
    Result,
    console,
    median_seconds,
    print_header,
    print_results,
    scratch_dir,
    write_json,
)
from labledger.tracking.run import start_run
from labledger.workspace.backup import backup_workspace, restore_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path


def _make_workspace(folder: Path, artifacts: int, size: int) -> Workspace:
    ws = Workspace.init(folder)
    per_run = 16
    for first in range(0, artifacts, per_run):
        with start_run(f"bench-{first}", workspace=ws) as run:
            run.log_metric("loss", 1.0)
            for index in range(first, min(first + per_run, artifacts)):
                run.log_artifact(os.urandom(size), name=f"a{index}")
    return ws


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    subprocess.run(["sync"], check=True)
    return path


def bench(artifacts: int, size: int, parent: str | None, repeat: int) -> list[Result]:
    with scratch_dir(parent, "labledger-bench-backup-") as scratch:
        ws = _make_workspace(scratch / "source", artifacts, size)
        objects = scratch / "source" / ".labledger" / "objects"
        total = artifacts * size
        try:

            def full() -> None:
                report = backup_workspace(ws, _fresh(scratch / "backup"))
                assert report.ok and report.copied >= artifacts

            def copy_tree() -> None:
                subprocess.run(
                    ["cp", "-r", str(objects), str(_fresh(scratch / "cp"))],
                    check=True,
                )

            def copy_tree_sync() -> None:
                copy_tree()
                subprocess.run(["sync"], check=True)

            full_s, _ = median_seconds(full, repeat)
            cp_s, _ = median_seconds(copy_tree, repeat)
            cp_sync_s, _ = median_seconds(copy_tree_sync, repeat)

            def incremental() -> None:
                report = backup_workspace(ws, scratch / "backup")
                assert report.ok and report.copied == 0

            def incremental_rehash() -> None:
                report = backup_workspace(ws, scratch / "backup", rehash_all=True)
                assert report.ok and report.copied == 0

            backup_workspace(ws, _fresh(scratch / "backup"))
            subprocess.run(["sync"], check=True)
            incremental_s, _ = median_seconds(incremental, max(repeat, 5))
            rehash_s, _ = median_seconds(incremental_rehash, repeat)

            def restore() -> None:
                report = restore_workspace(scratch / "backup", _fresh(scratch / "restored"))
                assert report.ok

            restore_s, _ = median_seconds(restore, repeat)
        finally:
            ws.close()
    label = f"{artifacts} x {size // 2**20} MiB ({total / 2**30:.2f} GiB)"
    return [
        Result(
            label,
            "full backup (fsync, verified) vs cp -r objects",
            full_s,
            cp_s,
            "s",
            note=f"{total / full_s / 1e9:.2f} GB/s",
            peer_note=f"cp -r + sync: {cp_sync_s:.2f} s",
        ),
        Result(label, "incremental backup, nothing new", incremental_s, None, "s", target=1.0),
        Result(label, "incremental backup, rehash_all", rehash_s, None, "s"),
        Result(label, "restore into a new folder (verified)", restore_s, None, "s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--artifacts", type=int, default=256, help="how many artifacts")
    parser.add_argument("--size-mib", type=int, default=4, help="size of each artifact")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (median)")
    parser.add_argument("--tmp", help="scratch folder on the disk to measure (default: temp)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    info = MachineInfo.collect(["labledger", "blake3"])
    print_header("labledger backup vs cp -r", info)
    results = bench(args.artifacts, args.size_mib * 2**20, args.tmp, args.repeat)
    print_results("labledger backup vs cp -r of the objects folder", "cp -r", results)
    console.print(
        "ratio: how many times faster labledger is than `cp -r`, which copies the blobs alone "
        "(no catalog snapshot, no fsync, no verification)."
    )
    write_json(args.json, info, results, artifacts=args.artifacts, size_mib=args.size_mib)


if __name__ == "__main__":
    main()
