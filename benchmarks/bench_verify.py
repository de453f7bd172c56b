"""The chain of trust: ``verify`` at growing sizes, proofs and checkpoints at 1,000,000 ledger entries.

Workloads, each on an embedded (SQLite) workspace in a scratch folder:

1. ``verify_workspace`` scales linearly: one workspace grows to 10,000, 30,000 and 100,000 runs
   (``start_run(params=2)``, ``log_metrics(2)``, end: each run is sealed and ends with a signed
   checkpoint) and holds 256 artifacts of 4 MiB (1 GiB, ``log_artifact(bytes)``) from the start.
   At each size ``verify_workspace`` runs without blobs (ledger walk with its Merkle root, the
   checks against every stored checkpoint, cross-checks, every sealed run re-derived) and with
   blobs (the same plus every blob re-hashed; the blobs are in the page cache). The per-run cost at
   the largest size over the smallest is the linearity figure (1.0: linear).
2. Proofs at 1,000,000 entries: entries are appended with ``Workspace.record`` in transactions of
   100,000, around three runs that each log an artifact (near the start, the middle, the end); the
   tree is extended with ``extend_tree``. Timed, medians over ``--repeat``: ``make_proof`` (which
   signs and stores a new checkpoint), the bare ``tree_inclusion_proof``, ``check_proof`` (offline:
   audit path and Ed25519 signature) and ``make_checkpoint`` after one more entry.
3. Peer: re-hashing 1 GiB of tracked files. labledger: ``verify_workspace`` of a workspace holding
   only the 256 artifacts. DVC: ``dvc status`` in a ``dvc init --no-scm`` repository where the same
   files were ``dvc add``-ed as one folder, with DVC's hash state (its site cache: inode, mtime and
   size to hash) removed before each run, so it must read and MD5 every file. DVC has no command that
   re-hashes its cache (no ``fsck``): ``dvc status`` re-hashes the workspace copies, which hold the
   same bytes. The script also shows that with its state kept DVC trusts mtimes (a changed byte with
   the mtime put back goes unnoticed) and that with the state removed it finds the change.

Run: ``.venv-bench/bin/python benchmarks/bench_verify.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.table import Table

from _common import (
    MachineInfo,
    Result,
    console,
    dvc_executable,
    format_value,
    median_seconds,
    print_header,
    print_results,
    remove_tree,
    run_quiet,
    scratch_dir,
    timed,
    write_json,
)

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

MIB = 2**20
TARGET_PROOF_S = 0.010
TARGET_LINEARITY = 1.25  # per-run cost at the largest size over the smallest
ENTRY_BATCH = 100_000


@dataclass
class Plan:
    run_sizes: list[int]
    blobs: int
    blob_mib: int
    entries: int
    repeat: int
    verify_repeat: int
    dvc: bool

    @property
    def blob_bytes(self) -> int:
        return self.blobs * self.blob_mib * MIB


def settle() -> None:
    """Write back what earlier steps left dirty, so a timed step pays for its own work only."""
    os.sync()


def load_average() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def blob_payloads(count: int, size: int) -> list[bytes]:
    return [os.urandom(size) for _ in range(count)]


def add_runs(ws: Workspace, first: int, last: int) -> float:
    """Runs ``first`` .. ``last - 1``: two params and two metrics each; return runs/s."""
    from labledger import start_run

    with timed() as watch:
        for i in range(first, last):
            with start_run(f"run-{i}", params={"seed": i, "model": "gbm"}, workspace=ws) as run:
                run.log_metrics({"auc": (i % 997) / 997, "loss": 1 / (i + 1)})
    return (last - first) / watch.seconds


# -- 1. verify at growing sizes ------------------------------------------------------------


@dataclass
class VerifyTiming:
    """One ``verify_workspace`` call, split at its progress reports."""

    seconds: float
    entries: int
    runs: int
    blobs: int
    ok: bool
    phases: dict[str, float] = field(default_factory=dict)


def timed_verify(ws: Workspace, *, blobs: bool) -> VerifyTiming:
    from labledger.workspace.verify import verify_workspace

    marks: dict[str, list[float]] = {}

    def progress(phase: str, _done: int, _total: int) -> None:
        marks.setdefault(phase, []).append(time.perf_counter())

    settle()
    start = time.perf_counter()
    report = verify_workspace(ws, blobs=blobs, progress=progress)
    end = time.perf_counter()
    if not report.ok:
        raise RuntimeError(f"verify found problems: {report.problems[:3]}")
    runs_first = marks["runs"][0] if "runs" in marks else end
    runs_last = marks["runs"][-1] if "runs" in marks else end
    phases = {
        "ledger": runs_first - start,  # walk + anchors + cross-checks (+ the first run)
        "runs": runs_last - runs_first,
        "blobs": end - runs_last if blobs else 0.0,
    }
    return VerifyTiming(
        end - start,
        report.entries_checked,
        report.runs_checked,
        report.blobs_checked,
        report.ok,
        phases,
    )


def median_verify(ws: Workspace, *, blobs: bool, repeat: int) -> VerifyTiming:
    timings = [timed_verify(ws, blobs=blobs) for _ in range(repeat)]
    timings.sort(key=lambda t: t.seconds)
    return timings[len(timings) // 2]


@dataclass
class ScalePoint:
    runs: int
    plain: VerifyTiming
    full: VerifyTiming
    blob_bytes: int
    catalog_mb: float


def bench_scaling(scratch: Path, plan: Plan, payloads: list[bytes]) -> list[ScalePoint]:
    from labledger import start_run
    from labledger.workspace.workspace import Workspace

    ws = Workspace.init(scratch / "scaling")
    points: list[ScalePoint] = []
    with timed() as watch, start_run("blobs", workspace=ws) as run:
        for i, payload in enumerate(payloads):
            run.log_artifact(payload, name=f"blob-{i:03d}")
    console.print(
        f"logged {len(payloads)} artifacts ({plan.blob_bytes / MIB:,.0f} MiB) "
        f"in {format_value(watch.seconds, 's')}"
    )
    made = 1  # the run holding the artifacts
    for size in plan.run_sizes:
        rate = add_runs(ws, made, size)
        made = size
        catalog = scratch / "scaling" / ".labledger" / "catalog.db"
        catalog_mb = catalog.stat().st_size / 1e6 if catalog.exists() else 0.0
        console.print(
            f"{size:,} runs ({rate:,.0f} runs/s to make them), catalog {catalog_mb:,.0f} MB"
        )
        plain = median_verify(ws, blobs=False, repeat=plan.verify_repeat)
        full = median_verify(ws, blobs=True, repeat=plan.verify_repeat)
        console.print(
            f"  verify: {plain.entries:,} entries, {plain.runs:,} sealed runs: "
            f"{format_value(plain.seconds, 's')} without blobs, "
            f"{format_value(full.seconds, 's')} with {full.blobs} blobs"
        )
        points.append(ScalePoint(size, plain, full, plan.blob_bytes, catalog_mb))
    ws.close()
    remove_tree(scratch / "scaling")
    return points


def print_scaling(points: list[ScalePoint]) -> None:
    table = Table(title="verify_workspace at growing sizes", title_justify="left")
    for column in (
        "runs",
        "entries",
        "catalog",
        "no blobs",
        "per run",
        "ledger walk+checks",
        "re-derive runs",
        "with blobs",
        "blob phase",
        "per MiB",
    ):
        table.add_column(column, justify="right")
    for p in points:
        mib = p.blob_bytes / MIB
        table.add_row(
            f"{p.runs:,}",
            f"{p.plain.entries:,}",
            f"{p.catalog_mb:,.0f} MB",
            format_value(p.plain.seconds, "s"),
            format_value(p.plain.seconds / p.runs, "s"),
            format_value(p.plain.phases["ledger"], "s"),
            format_value(p.plain.phases["runs"], "s"),
            format_value(p.full.seconds, "s"),
            format_value(p.full.phases["blobs"], "s"),
            format_value(p.full.phases["blobs"] / mib, "s"),
        )
    console.print(table)
    ratio = linearity(points)
    met = "[green]yes[/green]" if ratio < TARGET_LINEARITY else "[red]NO[/red]"
    console.print(
        f"per-run cost of verify (no blobs), {points[-1].runs:,} runs over {points[0].runs:,}: "
        f"{ratio:.2f} (1.0: linear; target < {TARGET_LINEARITY}) met? {met}"
    )


def scaling_results(points: list[ScalePoint]) -> list[Result]:
    group = "1. verify scales linearly"
    results = []
    for p in points:
        results.append(
            Result(
                group,
                f"verify, no blobs, {p.runs:,} runs ({p.plain.entries:,} entries), per run",
                p.plain.seconds / p.runs,
                None,
                "s",
                note=f"{format_value(p.plain.seconds, 's')} in all",
            )
        )
        results.append(
            Result(
                group,
                f"verify with blobs, {p.runs:,} runs + {p.blob_bytes / MIB:,.0f} MiB",
                p.full.seconds,
                None,
                "s",
                note=f"blob phase {p.full.phases['blobs'] / (p.blob_bytes / 1e9):.2f} s/GB",
            )
        )
    return results


def linearity(points: list[ScalePoint]) -> float:
    """Per-run cost of verify (no blobs) at the largest size over the smallest: 1.0 is linear."""
    small, large = points[0], points[-1]
    return (large.plain.seconds / large.runs) / (small.plain.seconds / small.runs)


# -- 2. proofs at 1,000,000 entries --------------------------------------------------------


def append_entries(ws: Workspace, count: int, start: int) -> float:
    """Append ``count`` entries in transactions of ``ENTRY_BATCH``; return entries/s."""
    with timed() as watch:
        done = 0
        while done < count:
            part = min(ENTRY_BATCH, count - done)
            with ws.write() as conn:
                for i in range(start + done, start + done + part):
                    ws.record(conn, "bench.entry", f"bench:{i}", {"i": i, "note": "filler"})
            done += part
    return count / watch.seconds


def extend(ws: Workspace) -> tuple[int, float]:
    from labledger.workspace.log_tree import extend_tree

    with timed() as watch, ws.write() as conn:
        size = extend_tree(conn)
    return size, watch.seconds


def artifact_run(ws: Workspace, label: str) -> str:
    from labledger import start_run

    with start_run(f"proof-{label}", workspace=ws) as run:
        artifact = run.log_artifact(f"the {label} artifact".encode(), name=f"proof-{label}")
    return artifact.id


def bench_proofs(scratch: Path, plan: Plan) -> tuple[list[Result], dict[str, Any]]:
    from labledger.workspace.checkpoints import make_checkpoint
    from labledger.workspace.ledger import count_entries
    from labledger.workspace.log_tree import tree_inclusion_proof
    from labledger.workspace.proofs import check_proof, make_proof
    from labledger.workspace.workspace import Workspace

    ws = Workspace.init(scratch / "proofs")
    ids = {"start": artifact_run(ws, "start")}
    half = plan.entries // 2
    info: dict[str, Any] = {}
    rates, extends = [], []
    for label, count in (("middle", half), ("end", plan.entries - half)):
        with ws.read() as conn:
            start = count_entries(conn)
        rates.append(append_entries(ws, count, start))
        size, seconds = extend(ws)
        extends.append((count, seconds))
        ids[label] = artifact_run(ws, label)
    with ws.read() as conn:
        total = count_entries(conn)
    appended = sum(c for c, _ in extends)
    extend_s = sum(s for _, s in extends)
    console.print(
        f"{total:,} ledger entries: appended at {statistics.mean(rates):,.0f} entries/s; "
        f"extend_tree over {appended:,} new entries took {format_value(extend_s, 's')} "
        f"({extend_s / appended * 1e6:.1f} µs an entry)"
    )
    info.update(entries=total, append_rate=statistics.mean(rates), extend_s=extend_s)

    group = f"2. proofs at {total:,} entries"
    results: list[Result] = []
    documents: dict[str, dict[str, Any]] = {}
    for label, artifact_id in ids.items():
        documents[label] = make_proof(ws, artifact_id)  # warm-up, and the document to check
        seconds, _ = median_seconds(lambda a=artifact_id: make_proof(ws, a), plan.repeat)
        index = documents[label]["entry"]["index"]
        results.append(
            Result(
                group,
                f"make_proof, artifact at leaf {index:,} ({label})",
                seconds,
                None,
                "s",
                TARGET_PROOF_S,
                note="finds the entry, signs + stores a checkpoint, reads the audit path",
            )
        )
    for label, document in documents.items():
        index, size = document["entry"]["index"], document["checkpoint"]["size"]

        def bare(i: int = index, n: int = size) -> None:
            with ws.read() as conn:
                tree_inclusion_proof(conn, i, n)

        seconds, _ = median_seconds(bare, plan.repeat)
        results.append(
            Result(
                group,
                f"tree_inclusion_proof, leaf {index:,} of {size:,} ({label})",
                seconds,
                None,
                "s",
                TARGET_PROOF_S,
                note=f"{len(document['audit_path'])} hashes; incl. opening a read connection",
            )
        )
    for label, document in documents.items():
        check = check_proof(document)
        if not check.ok:
            raise RuntimeError(f"the {label} proof does not check: {check.problems}")
        seconds, _ = median_seconds(lambda d=document: check_proof(d), plan.repeat)
        results.append(
            Result(
                group,
                f"check_proof ({label})",
                seconds,
                None,
                "s",
                TARGET_PROOF_S,
                note="offline: leaf hash, audit path, Ed25519 signature",
            )
        )
    durations = []
    for i in range(plan.repeat):
        with ws.write() as conn:
            ws.record(conn, "bench.entry", f"bench:extra-{i}", {"i": i})
        with timed() as watch:
            make_checkpoint(ws)
        durations.append(watch.seconds)
    results.append(
        Result(
            group,
            "make_checkpoint after appending 1 entry",
            statistics.median(durations),
            None,
            "s",
            TARGET_PROOF_S,
            note="extends the tree by 1 leaf, signs, stores",
        )
    )
    console.print("verify_workspace at this size (once, no blobs) ...")
    timing = timed_verify(ws, blobs=False)
    results.append(
        Result(
            group,
            f"verify, no blobs, {timing.entries:,} entries",
            timing.seconds,
            None,
            "s",
            note=f"{timing.seconds / timing.entries * 1e6:.1f} µs an entry; for information",
        )
    )
    info["verify_1m_s"] = timing.seconds
    ws.close()
    remove_tree(scratch / "proofs")
    return results, info


# -- 3. peer: re-hashing 1 GiB -------------------------------------------------------------


def dvc_env(scratch: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(scratch / "dvc-site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(scratch / "dvc-global-config"),
    }


def dvc_status(dvc: str, repo: Path, env: dict[str, str], *, forget: bool) -> tuple[float, str]:
    """``dvc status``'s wall time and output; ``forget`` removes DVC's hash state first."""
    if forget:
        remove_tree(repo.parent / "dvc-site-cache")
    start = time.perf_counter()
    done = subprocess.run(
        [dvc, "status"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dvc status exited {done.returncode}: {done.stderr}")
    return seconds, done.stdout


def dvc_detects_change(dvc: str, repo: Path, env: dict[str, str]) -> tuple[bool, bool]:
    """Flip one byte of a tracked file and put its mtime back: does ``dvc status`` see it?

    Returns (seen with the hash state kept, seen with it removed); the byte is restored after.
    """
    target = sorted((repo / "data").iterdir())[0]
    stat = target.stat()
    original = target.read_bytes()
    changed = bytes([original[0] ^ 0xFF]) + original[1:]
    try:
        target.write_bytes(changed)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        _, kept = dvc_status(dvc, repo, env, forget=False)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        _, forgot = dvc_status(dvc, repo, env, forget=True)
    finally:
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return "modified" in kept, "modified" in forgot


def bench_peer(scratch: Path, plan: Plan, payloads: list[bytes]) -> list[Result]:
    from labledger import start_run
    from labledger.workspace.workspace import Workspace

    group = f"3. re-hash {plan.blob_bytes / MIB:,.0f} MiB of tracked files"
    ws = Workspace.init(scratch / "blobs")
    with start_run("blobs", workspace=ws) as run:
        for i, payload in enumerate(payloads):
            run.log_artifact(payload, name=f"blob-{i:03d}")
    timed_verify(ws, blobs=True)  # warm-up: the blobs are in the page cache for both tools
    ours = median_verify(ws, blobs=True, repeat=max(plan.verify_repeat, 3))
    ws.close()
    gb = plan.blob_bytes / 1e9

    yard_blake3, yard_md5 = hash_yardsticks(payloads)
    results = [
        Result(
            "yardstick",
            f"BLAKE3 of the {len(payloads)} payloads in memory (labledger's hash)",
            yard_blake3,
            None,
            "s",
            note=f"{gb / yard_blake3:.2f} GB/s",
        ),
        Result(
            "yardstick",
            f"MD5 of the {len(payloads)} payloads in memory (DVC's hash)",
            yard_md5,
            None,
            "s",
            note=f"{gb / yard_md5:.2f} GB/s",
        ),
    ]
    if not plan.dvc:
        console.print("[yellow]peer left out (--no-dvc)[/yellow]")
        return [Result(group, "verify_workspace (blobs)", ours.seconds, None, "s"), *results]
    dvc = dvc_executable()
    env = dvc_env(scratch)
    repo = scratch / "dvc"
    repo.mkdir()
    data = repo / "data"
    data.mkdir()
    for i, payload in enumerate(payloads):
        (data / f"blob-{i:03d}").write_bytes(payload)
    run_quiet([dvc, "init", "--no-scm", "-q"], repo, env)
    added = run_quiet([dvc, "add", "-q", "data"], repo, env)
    console.print(f"dvc add data ({len(payloads)} files): {format_value(added, 's')}")
    settle()
    dvc_status(dvc, repo, env, forget=True)  # warm-up
    repeat = max(plan.verify_repeat, 3)
    forgot = statistics.median(dvc_status(dvc, repo, env, forget=True)[0] for _ in range(repeat))
    kept = statistics.median(dvc_status(dvc, repo, env, forget=False)[0] for _ in range(repeat))
    startup = min(run_quiet([dvc, "version"], scratch, env) for _ in range(3))
    seen_kept, seen_forgot = dvc_detects_change(dvc, repo, env)
    console.print(
        "one byte changed, mtime put back: dvc status "
        f"{'sees' if seen_kept else 'does not see'} it with its hash state kept, "
        f"{'sees' if seen_forgot else 'does not see'} it with the state removed"
    )
    if not seen_forgot:
        console.print("[red]dvc status did not re-hash: the peer row below is not comparable[/red]")
    results[:0] = [
        Result(
            group,
            "labledger verify_workspace vs dvc status with its hash state removed",
            ours.seconds,
            forgot,
            "s",
            note="labledger also walks the ledger, checks the tree, re-derives the run",
            peer_note="re-hashes every file (MD5), incl. start-up",
        ),
        Result(
            group,
            "the same, against dvc status with its hash state kept",
            ours.seconds,
            kept,
            "s",
            note="not like for like: DVC compares inode/mtime/size, reads no data",
            peer_note="mtime check only",
        ),
        Result("yardstick", "dvc start-up (dvc version, best of 3)", startup, None, "s"),
    ]
    return results


def hash_yardsticks(payloads: list[bytes]) -> tuple[float, float]:
    from labledger._foundation.digests import digest_bytes

    def blake3() -> None:
        for payload in payloads:
            digest_bytes(payload)

    def md5() -> None:
        for payload in payloads:
            hashlib.md5(payload).hexdigest()

    return median_seconds(blake3, 3)[0], median_seconds(md5, 3)[0]


# -- main ----------------------------------------------------------------------------------


def print_table(title: str, results: list[Result]) -> None:
    with_target = [r for r in results if r.group != "yardstick"]
    print_results(title, "DVC", with_target)
    table = Table(title="Yardsticks (no peer, no target)", title_justify="left")
    table.add_column("workload")
    table.add_column("figure", justify="right")
    table.add_column("note")
    for result in results:
        if result.group == "yardstick":
            table.add_row(result.name, format_value(result.ours, result.unit), result.note)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="500 / 1,500 / 5,000 runs, 16 MiB of blobs, 50,000 entries (under a minute)",
    )
    parser.add_argument("--repeat", type=int, default=20, help="repetitions of each proof timing")
    parser.add_argument(
        "--verify-repeat", type=int, default=1, help="verify runs at each size (median)"
    )
    parser.add_argument("--no-dvc", action="store_true", help="leave out the peer")
    parser.add_argument("--tmp", help="folder for the scratch workspaces (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    plan = Plan(
        run_sizes=[500, 1_500, 5_000] if args.quick else [10_000, 30_000, 100_000],
        blobs=16 if args.quick else 256,
        blob_mib=1 if args.quick else 4,
        entries=50_000 if args.quick else 1_000_000,
        repeat=5 if args.quick else args.repeat,
        verify_repeat=args.verify_repeat,
        dvc=not args.no_dvc,
    )
    info = MachineInfo.collect(["labledger", "dvc", "blake3", "cryptography"])
    print_header("labledger: verify, proofs and checkpoints", info)
    before = load_average()
    console.print(f"load before: {before}")
    with timed() as total, scratch_dir(args.tmp, "bench-verify-", keep=args.keep) as scratch:
        # verify remembers what it verified in the per-user state folder: keep that in scratch.
        os.environ["LABLEDGER_STATE_DIR"] = str(scratch / "state")
        payloads = blob_payloads(plan.blobs, plan.blob_mib * MIB)
        points = bench_scaling(scratch, plan, payloads)
        results = scaling_results(points)
        proof_results, proof_info = bench_proofs(scratch, plan)
        results += proof_results
        results += bench_peer(scratch, plan, payloads)
    after = load_average()
    print_scaling(points)
    print_table("labledger: the chain of trust", results)
    console.print(
        "ratio: how many times faster labledger is than DVC (DVC's figure includes its process "
        "start-up, shown under yardsticks). Blobs were in the page cache for both tools."
    )
    console.print(f"load before: {before}\nload after:  {after}")
    console.print(f"total time {format_value(total.seconds, 's')}")
    write_json(
        args.json,
        info,
        results,
        plan=plan.__dict__,
        load_before=before,
        load_after=after,
        proofs=proof_info,
        linearity=linearity(points),
        scaling=[
            {
                "runs": p.runs,
                "entries": p.plain.entries,
                "catalog_mb": p.catalog_mb,
                "blob_bytes": p.blob_bytes,
                "verify_no_blobs_s": p.plain.seconds,
                "verify_no_blobs_phases": p.plain.phases,
                "verify_blobs_s": p.full.seconds,
                "verify_blobs_phases": p.full.phases,
            }
            for p in points
        ],
    )


if __name__ == "__main__":
    main()
