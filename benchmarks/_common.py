"""Shared pieces of the peer benchmarks: timing, the machine's description and the ratio table.

A ``Result`` holds one workload's figure for labledger and for the peer tool; ``print_results``
renders them as a table with the ratio (how many times faster labledger is) and the target.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

GB = 1e9  # throughput is reported in decimal gigabytes per second


class Stopwatch:
    """Elapsed seconds of a ``with timed() as watch:`` block, read from ``watch.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0


@contextmanager
def timed() -> Iterator[Stopwatch]:
    """Time a block with ``time.perf_counter``."""
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


def median_seconds(action: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    """Run ``action`` ``repeat`` times; return the median and every duration in seconds."""
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), durations


@dataclass
class Result:
    """One workload, measured for labledger and (where it applies) for the peer.

    ``unit`` is ``values/s``, ``runs/s`` or ``GB/s`` (higher is better) or ``s`` (lower is better).
    ``target`` is labledger's target in the same unit; ``None`` when the row has none.
    """

    group: str
    name: str
    ours: float
    peer: float | None
    unit: str
    target: float | None = None
    note: str = ""
    peer_note: str = ""

    @property
    def higher_is_better(self) -> bool:
        return self.unit != "s"

    @property
    def ratio(self) -> float | None:
        """How many times better labledger is than the peer (> 1: labledger is faster)."""
        if self.peer is None or not self.peer > 0 or not self.ours > 0:  # NaN: not measured
            return None
        return self.ours / self.peer if self.higher_is_better else self.peer / self.ours

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.ours >= self.target if self.higher_is_better else self.ours < self.target


def dvc_executable() -> str:
    """The ``dvc`` command beside this interpreter (the benchmark venv), else on the PATH."""
    beside = Path(sys.executable).with_name("dvc")
    if beside.exists():
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise SystemExit("dvc is not installed; see benchmarks/README.md for the benchmark venv")
    return found


def format_value(value: float | None, unit: str) -> str:
    """A figure with its unit, seconds shown as ms or µs where that reads better."""
    if value is None or value != value:  # None or NaN: not measured
        return "-"
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    if unit == "GB/s":
        return f"{value:.2f} GB/s"
    return f"{value:,.0f} {unit}"


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 1:
        return f"{ratio:,.1f}x faster"
    return f"{1 / ratio:,.1f}x slower"


def format_target(result: Result) -> str:
    if result.target is None:
        return ""
    sign = ">=" if result.higher_is_better else "<"
    return f"{sign} {format_value(result.target, result.unit)}"


def format_met(result: Result) -> str:
    met = result.met
    if met is None:
        return ""
    return "[green]yes[/green]" if met else "[red]NO[/red]"


def print_results(title: str, peer_name: str, results: list[Result]) -> None:
    """Print one table: workload, labledger, peer, ratio, target and whether it was met."""
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("workload")
    table.add_column("labledger", justify="right")
    table.add_column(peer_name, justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met?", justify="center")
    group = None
    for result in results:
        if group is not None and result.group != group:
            table.add_section()
        group = result.group
        peer = format_value(result.peer, result.unit)
        if result.peer_note:
            peer += f" [dim]({result.peer_note})[/dim]"
        name = result.name + (f"\n[dim]{result.note}[/dim]" if result.note else "")
        table.add_row(
            name,
            format_value(result.ours, result.unit),
            peer,
            format_ratio(result.ratio),
            format_target(result),
            format_met(result),
        )
    console.print(table)
    missed = [r for r in results if r.met is False]
    if missed:
        for result in missed:
            console.print(
                f"[red]target missed[/red]: {result.group} / {result.name}: "
                f"{format_value(result.ours, result.unit)}, target {format_target(result)}"
            )
    else:
        console.print("[green]every target met[/green]")


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        return None
    return None


@dataclass
class MachineInfo:
    """What the figures were measured on."""

    cpus: int
    memory_gib: float | None
    python: str
    platform: str
    packages: dict[str, str] = field(default_factory=dict)

    @classmethod
    def collect(cls, packages: list[str]) -> MachineInfo:
        return cls(
            cpus=os.cpu_count() or 0,
            memory_gib=memory_gib(),
            python=platform.python_version(),
            platform=platform.platform(),
            packages={name: package_version(name) for name in packages},
        )

    def describe(self) -> str:
        memory = f"{self.memory_gib:.1f} GiB" if self.memory_gib is not None else "? GiB"
        packages = ", ".join(f"{name} {ver}" for name, ver in self.packages.items())
        return f"{self.cpus} CPUs, {memory} RAM, Python {self.python}, {self.platform}\n{packages}"


def source_revision() -> str:
    """The commit the benchmarked code is at, with ``+changes`` when the work tree differs."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{commit or 'unknown'}{' +changes in src/' if dirty else ''}"


def print_header(title: str, info: MachineInfo) -> None:
    console.rule(title)
    console.print(info.describe())
    console.print(f"labledger source: {source_revision()}")
    console.print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


def write_json(path: str | None, info: MachineInfo, results: list[Result], **extra: object) -> None:
    """Save the figures (for RESULTS.md or for comparing two commits)."""
    if not path:
        return
    data = {
        "machine": asdict(info),
        "argv": sys.argv,
        "source": source_revision(),
        "results": [
            {**asdict(r), "ratio": r.ratio, "met": r.met, "higher_is_better": r.higher_is_better}
            for r in results
        ],
        **extra,
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"figures written to {path}")


@contextmanager
def scratch_dir(parent: str | None, prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary folder, removed afterwards unless ``keep``."""
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        if keep:
            console.print(f"kept {folder}")
        else:
            remove_tree(folder)


def remove_tree(folder: Path) -> None:
    """Remove a folder, including the read-only files that blob stores and DVC leave."""

    def _make_writable(function: Callable[..., object], path: str, _exc: object) -> None:
        os.chmod(path, 0o700)
        function(path)

    if not folder.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=_make_writable)
    else:
        shutil.rmtree(folder, onerror=_make_writable)


def run_quiet(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run a command, fail loudly on a non-zero exit, and return its wall time in seconds."""
    start = time.perf_counter()
    completed = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
        )
    return seconds
