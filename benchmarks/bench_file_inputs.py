"""File inputs: a pipeline reading 10,000 small files, labledger against DVC on the same files.

Workloads (every figure a median over ``--repeat`` repetitions):
  1. the fully cached re-run of a pipeline whose one step reads ``labledger.Folder("data")``
     (10,000 files of 1-4 KiB in 100 subfolders, made deterministically, aged 10 s so that no
     entry of the stat cache is racy): ``pipeline.run()`` in the same process, and from a fresh
     process, as the wall time of ``labledger run`` and as ``run()`` timed inside a fresh
     ``python``; against ``dvc status`` and ``dvc repro`` (nothing changed) on a ``dvc.yaml``
     stage with ``deps: [data]`` and a copy of the same files, as CLI commands, and
     ``Repo(root).status()`` in-process;
  2. one file edited (one byte, same size): the run that notices it, re-hashes and stores that
     file, and re-runs the step, against ``dvc repro``;
  3. the first run: hashing and storing every file (``Folder("data")``) and hashing only
     (``Folder("data", store=False)``), each in a fresh workspace, against ``dvc add data`` (hash
     and copy into DVC's cache) and the first ``dvc repro`` (hash the deps), each in a fresh DVC
     repository;
  4. (labledger alone, ``--no-files-variant`` skips it) the same files as 10,000 ``labledger.File``
     inputs spread over 100 steps of 100 files each: first run and fully cached re-run.

The step itself is trivial (it lists the top folder; DVC's command does the same), so the figures
are the cost of noticing that nothing changed, or what changed. The files were just written, so
they are in the page cache for both tools.

Run: ``.venv-bench/bin/python benchmarks/bench_file_inputs.py [--repeat 3] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
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

TARGET_CACHED_RERUN_S = 0.2
AGE_S = 10.0  # files are dated this far back: older than the stat cache's racy window (2 s)
SEED = 20261121

PIPELINE_SOURCE = '''\
"""The benchmark's pipelines: one step reading a folder, or 100 steps reading 100 files each."""

import os
from pathlib import Path

import labledger
from labledger.pipelines import pipeline, step


@step
def list_top(folder: Path) -> int:
    return len(os.listdir(folder))


@pipeline
def folder_input() -> int:
    return list_top(labledger.Folder("data"))


@pipeline
def folder_reference() -> int:
    return list_top(labledger.Folder("data", store=False))


@step
def count_files(files: list) -> int:
    return len(files)


@pipeline
def file_inputs() -> list:
    groups = sorted(os.listdir("data"))
    return [
        count_files([labledger.File(f"data/{group}/{name}") for name in sorted(os.listdir(f"data/{group}"))])
        for group in groups
    ]
'''

# A fresh interpreter that times one run() of a pipeline and prints the figures as JSON.
TIMED_RUN_SOURCE = """\
import json, sys, time
import labledger
from pipe import {name}
workspace = labledger.open_workspace(sys.argv[1])
start = time.perf_counter()
run = {name}.run(workspace=workspace)
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "executed": len(run.executed), "cached": len(run.cached)}}))
"""

DVC_YAML = """\
stages:
  list_top:
    cmd: ls data | wc -l > count.txt
    deps:
      - data
    outs:
      - count.txt
"""


# -- the files ---------------------------------------------------------------------------------


def make_files(root: Path, files: int, folders: int) -> int:
    """``files`` files of 1-4 KiB in ``folders`` subfolders of ``root``; returns the bytes."""
    rng = random.Random(SEED)
    per_folder = -(-files // folders)
    total = 0
    for index in range(files):
        folder = root / f"group-{index // per_folder:03d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randint(1024, 4096))
        (folder / f"sample-{index % per_folder:04d}.bin").write_bytes(data)
        total += len(data)
    age(root)
    return total


def age(root: Path) -> None:
    """Date every file under ``root`` ``AGE_S`` seconds back and wait out the stat cache's racy
    window, so the files look as a later run sees them (their change time, which cannot be set,
    is then older than the window too)."""
    from labledger.workspace.stat_cache import RACY_WINDOW_NS

    when = time.time() - AGE_S
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (when, when))
    time.sleep(RACY_WINDOW_NS / 1e9 + 0.2)


def edit(path: Path, round_: int) -> None:
    """Change one byte of ``path`` in place (the size stays the same)."""
    data = bytearray(path.read_bytes())
    data[0] = (data[0] + 1 + round_) % 256 or 1
    path.write_bytes(bytes(data))


def nth_file(root: Path, n: int) -> Path:
    groups = sorted(os.listdir(root))
    group = root / groups[(n * 37) % len(groups)]
    names = sorted(os.listdir(group))
    return group / names[(n * 53) % len(names)]


def uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "uptime: not available"


# -- labledger ---------------------------------------------------------------------------------


def bench_env() -> dict[str, str]:
    """The environment for child processes: this checkout's sources first, as in this process."""
    import labledger

    source = str(Path(labledger.__file__).resolve().parent.parent)
    paths = [source, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


class LabledgerSide:
    """The pipelines of ``PIPELINE_SOURCE`` in ``project``, which holds ``data/``."""

    def __init__(self, project: Path) -> None:
        import importlib

        import labledger

        self.labledger = labledger
        self.project = project
        (project / "pipe.py").write_text(PIPELINE_SOURCE)
        os.chdir(project)  # the pipelines name "data" relative to the working folder
        sys.path.insert(0, str(project))
        self.module = importlib.import_module("pipe")
        self.env = bench_env()
        self.cli = str(Path(sys.executable).with_name("labledger"))
        self.count = 0
        self.folder = project

    def workspace(self, name: str) -> Any:
        self.count += 1
        self.folder = self.project.parent / f"ws-{self.count:02d}-{name}"
        return self.labledger.init(self.folder)

    def run(self, workspace: Any, name: str, *, executed: int = 0, cached: int = 0) -> float:
        with timed() as watch:
            run = getattr(self.module, name).run(workspace=workspace)
        check(f"labledger {name}", len(run.executed), len(run.cached), executed, cached)
        return watch.seconds

    def cli_run(self, name: str, *, cached: int) -> tuple[float, float]:
        """Wall time of ``labledger run pipe.py:NAME`` in the last workspace, and the run's own
        duration it reports."""
        command = [self.cli, "run", f"pipe.py:{name}", "-q", "--json", "-w", str(self.folder)]
        start = time.perf_counter()
        completed = subprocess.run(
            command, cwd=self.project, env=self.env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}:\n{completed.stdout}\n{completed.stderr}")
        report = json.loads(completed.stdout)
        statuses = [task["status"] for task in report["tasks"]]
        check(
            f"labledger run {name}", statuses.count("finished"), statuses.count("cached"), 0, cached
        )
        return seconds, float(report["duration"])

    def fresh_process_run(self, name: str, *, cached: int) -> float:
        """``run()`` in the last workspace, timed inside a fresh interpreter (imports and opening
        the workspace not counted)."""
        script = self.project.parent / f"timed_{name}.py"
        script.write_text(TIMED_RUN_SOURCE.format(name=name))
        completed = subprocess.run(
            [sys.executable, str(script), str(self.folder)],
            cwd=self.project,
            env={**self.env, "PYTHONPATH": f"{self.project}{os.pathsep}{self.env['PYTHONPATH']}"},
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{script}:\n{completed.stdout}\n{completed.stderr}")
        report = json.loads(completed.stdout.strip().splitlines()[-1])
        check(f"fresh python {name}", report["executed"], report["cached"], 0, cached)
        return float(report["seconds"])


def check(what: str, executed: int, cached: int, want_executed: int, want_cached: int) -> None:
    """Fail loudly when a run did not do the work it is timed for."""
    if (executed, cached) != (want_executed, want_cached):
        raise RuntimeError(
            f"{what}: {executed} executed and {cached} cached, "
            f"expected {want_executed} and {want_cached}"
        )


# -- DVC -------------------------------------------------------------------------------------


class DvcSide:
    """A DVC repository (no git) with its own copy of the files and one stage reading ``data``."""

    def __init__(self, repo: Path, scratch: Path) -> None:
        self.repo = repo
        self.dvc = dvc_executable()
        self.site_cache = scratch / "dvc-site-cache"
        self.env = {
            **os.environ,
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(self.site_cache),
            "DVC_GLOBAL_CONFIG_DIR": str(scratch / "dvc-global-config"),
        }

    def reset(self) -> None:
        """A fresh repository around the same files: no cache, no state database, no lock."""
        for name in (".dvc", ".dvcignore", "dvc.yaml", "dvc.lock", "data.dvc", "count.txt"):
            path = self.repo / name
            if path.is_dir():
                remove_tree(path)
            elif path.exists():
                path.unlink()
        remove_tree(self.site_cache)
        self.command("init", "--no-scm", "-q")

    def command(self, *args: str) -> float:
        return run_quiet([self.dvc, *args], self.repo, self.env)

    def first_repro(self) -> float:
        self.reset()
        (self.repo / "dvc.yaml").write_text(DVC_YAML)
        return self.command("repro", "-q")

    def first_add(self) -> float:
        self.reset()
        return self.command("add", "-q", "data")

    def status_output(self) -> str:
        return subprocess.run(
            [self.dvc, "status"],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    def in_process_status(self) -> float:
        """``Repo(root).status()`` in this process, a fresh ``Repo`` each time."""
        from dvc.repo import Repo

        os.environ.update(
            {k: v for k, v in self.env.items() if k.startswith("DVC_")}
        )  # the same site cache as the CLI
        with timed() as watch, Repo(str(self.repo)) as repo:
            changed = repo.status()
        if changed:
            raise RuntimeError(f"dvc status in-process reports changes: {changed}")
        return watch.seconds


# -- the workloads ---------------------------------------------------------------------------


@dataclass
class Figures:
    """Every timing, lists of seconds per workload."""

    files: int = 0
    bytes: int = 0
    ours: dict[str, list[float]] = field(default_factory=dict)
    dvc: dict[str, list[float]] = field(default_factory=dict)
    cli_reported: list[float] = field(default_factory=list)
    uptime_before: str = ""
    uptime_after: str = ""

    def add(self, side: dict[str, list[float]], key: str, seconds: float) -> None:
        side.setdefault(key, []).append(seconds)

    def median(self, side: dict[str, list[float]], key: str) -> float | None:
        values = side.get(key)
        return statistics.median(values) if values else None


@dataclass
class Plan:
    files: int
    folders: int
    repeat: int
    dvc: bool
    files_variant: bool


def bench(plan: Plan, tmp: str | None, keep: bool) -> Figures:
    figures = Figures(files=plan.files)
    here = Path.cwd()
    with scratch_dir(tmp, "bench-file-inputs-", keep=keep) as folder:
        project = folder / "project"
        console.print(f"making {plan.files:,} files in {plan.folders} folders...")
        figures.bytes = make_files(project / "data", plan.files, plan.folders)
        dvc = None
        if plan.dvc:
            shutil.copytree(project / "data", folder / "dvc" / "data")
            age(folder / "dvc" / "data")
            dvc = DvcSide(folder / "dvc", folder)
        try:
            bench_labledger(plan, figures, LabledgerSide(project))
            if dvc is not None:
                bench_dvc(plan, figures, dvc)
        finally:
            os.chdir(here)
    return figures


def bench_labledger(plan: Plan, figures: Figures, ours: LabledgerSide) -> None:
    repeat, ours_ = plan.repeat, figures.ours
    console.print(f"3. labledger first runs, each in a fresh workspace (x{repeat})...")
    for index in range(repeat):
        for name, key in (("folder_input", "first"), ("folder_reference", "first_reference")):
            with ours.workspace(f"first-{name}-{index}") as ws:
                os.sync()
                figures.add(ours_, key, ours.run(ws, name, executed=1))
    ws = ours.workspace("main")
    ours.run(ws, "folder_input", executed=1)  # untimed first run
    ours.run(ws, "folder_input", cached=1)  # untimed warm-up of the cached path
    console.print(f"1. labledger fully cached re-run, in-process (x{repeat})...")
    for _ in range(repeat):
        figures.add(ours_, "cached", ours.run(ws, "folder_input", cached=1))
    console.print(f"1. labledger fully cached re-run, fresh process (x{repeat})...")
    for _ in range(repeat):
        wall, reported = ours.cli_run("folder_input", cached=1)
        figures.add(ours_, "cli", wall)
        figures.cli_reported.append(reported)
        figures.add(ours_, "fresh", ours.fresh_process_run("folder_input", cached=1))
    console.print(f"2. labledger, one file edited (x{repeat})...")
    for index in range(repeat):
        path = nth_file(ours.project / "data", index)
        edit(path, index)
        figures.add(ours_, "edited", ours.run(ws, "folder_input", executed=1))
        age(path.parent)
        ours.run(ws, "folder_input", cached=1)  # the aged file hashed again (new ctime)
    ws.close()
    if plan.files_variant:
        ws = ours.workspace("files")
        steps = len(os.listdir(ours.project / "data"))
        console.print(f"4. labledger {plan.files:,} File inputs over {steps} steps: first run...")
        figures.add(ours_, "files_first", ours.run(ws, "file_inputs", executed=steps))
        ours.run(ws, "file_inputs", cached=steps)
        console.print(f"4. labledger {plan.files:,} File inputs: cached re-run (x{repeat})...")
        for _ in range(repeat):
            figures.add(ours_, "files_cached", ours.run(ws, "file_inputs", cached=steps))
        ws.close()


def bench_dvc(plan: Plan, figures: Figures, dvc: DvcSide) -> None:
    repeat, theirs = plan.repeat, figures.dvc
    console.print(
        f"3. DVC first `dvc add data` and first `dvc repro`, fresh repository (x{repeat})..."
    )
    for _ in range(repeat):
        os.sync()
        figures.add(theirs, "first", dvc.first_add())
        os.sync()
        figures.add(theirs, "first_reference", dvc.first_repro())
    dvc.command("status", "-q")  # untimed warm-up
    if "changed" in dvc.status_output():
        raise RuntimeError(f"dvc status reports changes before timing:\n{dvc.status_output()}")
    console.print(f"1. DVC `dvc status` and `dvc repro` with nothing changed (x{repeat})...")
    for _ in range(repeat):
        figures.add(theirs, "cli", dvc.command("status", "-q"))
        figures.add(theirs, "repro", dvc.command("repro", "-q"))
    console.print(f"2. DVC `dvc repro`, one file edited (x{repeat})...")
    for index in range(repeat):
        path = nth_file(dvc.repo / "data", index)
        edit(path, index)
        figures.add(theirs, "edited", dvc.command("repro", "-q"))
        age(path.parent)
        dvc.command("repro", "-q")
    console.print(f"1. DVC `Repo(root).status()` in-process (x{repeat})...")
    dvc.in_process_status()  # untimed: imports
    for _ in range(repeat):
        figures.add(theirs, "cached", dvc.in_process_status())


def results(plan: Plan, figures: Figures) -> list[Result]:
    files = f"{plan.files:,} files"
    ours, theirs = figures.ours, figures.dvc

    def row(
        group: str, name: str, key: str, peer_key: str | None = None, **extra: Any
    ) -> Result | None:
        value = figures.median(ours, key)
        if value is None:
            return None
        peer = figures.median(theirs, peer_key) if peer_key else None
        return Result(group, name, value, peer, "s", **extra)

    cached = f"1. fully cached re-run over {files} (nothing changed)"
    edited = "2. one file edited (one byte)"
    first = f"3. first run over {files} ({figures.bytes / 2**20:.1f} MiB; fresh workspace / repo)"
    reported = statistics.median(figures.cli_reported) if figures.cli_reported else None
    rows = [
        row(
            cached,
            "cached re-run, in-process: pipeline.run()",
            "cached",
            "cached",
            target=TARGET_CACHED_RERUN_S,
            note="the same process ran it before",
            peer_note="Repo(root).status(), in-process",
        ),
        row(
            cached,
            "cached re-run, fresh process: run() timed in a new python",
            "fresh",
            note="imports and opening the workspace not counted",
        ),
        row(
            cached,
            "cached re-run, fresh process: `labledger run`, wall",
            "cli",
            "cli",
            note=f"run duration it reports: {format_value(reported, 's')}",
            peer_note="`dvc status`, wall",
        ),
        row(
            cached,
            "cached re-run, `labledger run` against `dvc repro`",
            "cli",
            "repro",
            peer_note="`dvc repro`, nothing to do, wall",
        ),
        row(
            edited,
            "1 file edited, in-process: re-hash it, store it, re-run",
            "edited",
            "edited",
            peer_note="`dvc repro`, wall",
        ),
        row(
            first,
            'first run, hash and store every file: Folder("data")',
            "first",
            "first",
            note="each file a blob, written durably (fsync)",
            peer_note="`dvc add data`, wall",
        ),
        row(
            first,
            'first run, hash only: Folder("data", store=False)',
            "first_reference",
            "first_reference",
            peer_note="first `dvc repro`, wall",
        ),
    ]
    if "files_cached" in ours:
        group = f"4. {files} as File inputs, 100 steps of 100 files (labledger alone)"
        rows += [
            row(group, "File inputs: first run (one repetition)", "files_first"),
            row(group, "File inputs: fully cached re-run, in-process", "files_cached"),
        ]
    return [r for r in rows if r is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=10_000, help="input files (default 10,000)")
    parser.add_argument("--folders", type=int, default=100, help="subfolders (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--quick", action="store_true", help="one repetition of everything")
    parser.add_argument("--no-dvc", action="store_true", help="leave out DVC")
    parser.add_argument(
        "--no-files-variant", action="store_true", help="leave out the File-inputs variant (4.)"
    )
    parser.add_argument("--tmp", help="folder for the scratch data (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    plan = Plan(
        files=args.files,
        folders=args.folders,
        repeat=1 if args.quick else args.repeat,
        dvc=not args.no_dvc,
        files_variant=not args.no_files_variant,
    )
    info = MachineInfo.collect(["labledger", "dvc", "dvc-data", "blake3"])
    print_header("labledger vs DVC: file inputs", info)
    before = uptime()
    console.print(f"before: {before}")
    with timed() as elapsed:
        figures = bench(plan, args.tmp, args.keep)
    figures.uptime_before, figures.uptime_after = before, uptime()
    console.print(f"after: {figures.uptime_after}")
    rows = results(plan, figures)
    print_results("labledger vs DVC 3 (dvc CLI from the same venv)", "DVC", rows)
    console.print(
        "Every repetition: "
        + "; ".join(
            f"{key} {', '.join(format_value(v, 's') for v in values)}"
            for side, label in ((figures.ours, "labledger"), (figures.dvc, "dvc"))
            for key, values in [(f"{label} {k}", v) for k, v in side.items()]
        )
    )
    console.print(f"total time {format_value(elapsed.seconds, 's')}")
    write_json(
        args.json,
        info,
        rows,
        plan=plan.__dict__,
        samples={"labledger": figures.ours, "dvc": figures.dvc},
        cli_reported=figures.cli_reported,
        uptime=[figures.uptime_before, figures.uptime_after],
    )


if __name__ == "__main__":
    main()
