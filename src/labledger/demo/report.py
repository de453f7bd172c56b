"""Rendering the demo study for people: one Rich section per step, written as the step finishes."""

from __future__ import annotations

import math
import shlex
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from labledger._foundation.display import short_ids, sparkline

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from rich.console import Console

    from labledger.demo.curation import Curation
    from labledger.demo.proof import ProofStep
    from labledger.metadata import Collection
    from labledger.tracking import Artifact, MetricPoint, Run, RunComparison
    from labledger.workspace.verify import VerifyReport

__all__ = [
    "print_collection",
    "print_comparison",
    "print_header",
    "print_ingest",
    "print_learning_curve",
    "print_metadata",
    "print_next_steps",
    "print_proof",
    "print_runs",
    "print_search",
    "print_verification",
    "section",
    "short_ids",
    "sparkline",
    "training_progress",
]

FINAL_METRICS = ("auc", "accuracy", "f1", "log_loss")


def _plain(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def section(console: Console, title: str) -> None:
    """A titled rule that opens one step of the report."""
    console.print()
    console.rule(f"[bold]{escape(title)}[/bold]", align="left", style="cyan")


def print_header(console: Console, workspace: Path, *, requested: Path | None = None) -> None:
    """The banner: what the study is and where its workspace lives."""
    body = Text.assemble(
        ("Breast tumour biopsies: which classifier should the pathology team adopt?\n", "bold"),
        "569 fine-needle aspirates with 30 nucleus features each, from the Wisconsin diagnostic "
        "set that ships with scikit-learn (nothing is downloaded). Every step below is tracked: "
        "params, metric curves, artifacts, and ledger entries you can verify.\n\n",
        ("workspace  ", "dim"),
        str(workspace),
    )
    console.print(Panel(body, title="[bold]labledger demo[/bold]", border_style="cyan"))
    if requested is not None:
        console.print(
            f"[yellow]note:[/yellow] {escape(str(requested))} already holds a workspace; the demo "
            f"left it untouched and builds a fresh one in {escape(str(workspace))}"
        )


def print_ingest(console: Console, run: Run, dataset: Artifact) -> None:
    """The registered dataset: its run, rows, columns and digest."""
    section(console, "1. Ingest")
    console.print(
        f"Registered [bold]{escape(dataset.name)}[/bold] ({dataset.format}, "
        f"{dataset.stats.get('rows', '?')} rows, {dataset.size / 1024:.0f} KiB) "
        f"in run [bold]{escape(run.name)}[/bold] [dim]{run.id}[/dim]"
    )
    params = ", ".join(f"{k}={v}" for k, v in run.params.items())
    console.print(f"[dim]params:[/dim] {escape(params)}")
    console.print(f"[dim]digest:[/dim] {dataset.digest}")


def print_metadata(console: Console, curation: Curation) -> None:
    """Metadata fields defined, the values attached to each target, and a metadata search."""
    section(console, "2. Metadata")
    for field in curation.fields:
        console.print(f"[dim]field[/dim]  {escape(field)}")
    for target, values in curation.values.items():
        shown = ", ".join(f"{k}={_plain(v)}" for k, v in values.items())
        console.print(f"[dim]values[/dim] {escape(target)}: {escape(shown)}")
    found = ", ".join(curation.hits) or "nothing"
    console.print(f"[dim]search[/dim] {escape(curation.query)} -> {escape(found)}")


def training_progress(console: Console) -> Progress:
    """A progress bar for the training step (use as a context manager)."""
    section(console, "3. Training")
    return Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def print_runs(console: Console, runs: Sequence[Run], best_id: str) -> None:
    """The leaderboard: one row per model run, the best one starred."""
    table = Table(title="Runs, best AUC first", title_justify="left", header_style="bold")
    ids = short_ids([run.id for run in runs])
    for column in ("run", "id", "family"):
        # Never cut or wrapped: two runs whose names were cut can look the same.
        table.add_column(column, no_wrap=True, overflow="fold")
    for column in ("auc", "accuracy", "log_loss", "duration"):
        table.add_column(column, justify="right")
    for run in runs:
        star = run.id == best_id
        table.add_row(
            ("* " if star else "  ") + run.name,
            ids[run.id],
            run.tags.get("family", ""),
            _number(run.metrics.get("auc")),
            _number(run.metrics.get("accuracy")),
            _number(run.metrics.get("log_loss")),
            _duration(run.duration_s),
            style="bold green" if star else None,
        )
    console.print(table)


def print_search(
    console: Console, filter_text: str, order_by: Sequence[str], hits: Sequence[Run]
) -> None:
    """A search: its filter, its order and the runs it found."""
    section(console, "4. Search")
    console.print(f"[dim]filter:[/dim]   [bold]{escape(filter_text)}[/bold]")
    console.print(f"[dim]order by:[/dim] {escape(', '.join(order_by))}")
    if not hits:
        console.print("[yellow]no runs matched[/yellow]")
    for rank, run in enumerate(hits, 1):
        console.print(
            f"  {rank}. {escape(run.name):<12} auc {_number(run.metrics.get('auc'))}  "
            f"[dim]model={escape(run.tags.get('model', ''))}[/dim]"
        )
    console.print(f"{len(hits)} hit(s)")


def print_comparison(console: Console, comparison: RunComparison) -> None:
    """Best against runner-up: the params that differ and the better value of each metric."""
    section(console, "5. Compare best vs runner-up")
    runs = comparison.runs
    table = Table(header_style="bold")
    table.add_column("")
    for run in runs:
        table.add_column(run.name, justify="right", no_wrap=True)
    for key in comparison.differing_params:
        table.add_row(f"params.{key}", *(run.params.get(key, "-") for run in runs), style="yellow")
    for key in FINAL_METRICS:
        winner = comparison.best.get(key)
        cells = [
            Text(f"{_number(run.metrics.get(key))} *", style="bold green")
            if run.id == winner
            else Text(_number(run.metrics.get(key)))
            for run in runs
        ]
        table.add_row(f"metrics.{key}", *cells)
    console.print(table)
    differing = ", ".join(comparison.differing_params) or "none"
    console.print(
        f"[dim]params that differ: {escape(differing)}; * marks the best value of each metric[/dim]"
    )
    winners = {
        key: next(r.name for r in runs if r.id == comparison.best[key])
        for key in FINAL_METRICS
        if key in comparison.best
    }
    console.print(
        "best per metric: " + ", ".join(f"{k} -> {escape(v)}" for k, v in winners.items())
    )


def print_learning_curve(
    console: Console, run: Run, curves: dict[str, list[MetricPoint]], axis: str
) -> None:
    """Sparklines of the best run's validation curves, with their first and last values."""
    section(console, f"6. Learning curve of {run.name}")
    ascii_only = not console.encoding.lower().startswith("utf")
    for key, points in curves.items():
        if not points:
            continue
        values = [p.value for p in points]
        line = sparkline(values, width=40, ascii_only=ascii_only)
        console.print(
            f"  {key:<13} {_number(values[0])} [cyan]{line}[/cyan] {_number(values[-1])}",
            highlight=False,
        )
    first = next(iter(curves.values()), [])
    if first:
        console.print(f"  [dim]x axis: {escape(axis)}, {first[0].step} to {first[-1].step}[/dim]")


def print_collection(console: Console, collection: Collection) -> None:
    """The collection the best run and the dataset were put into."""
    section(console, "7. Collection")
    members = ", ".join(f"{m.kind} {m.name or m.id[:8]}" for m in collection.members)
    console.print(f"[bold]{escape(collection.name)}[/bold]: {escape(members)}")
    console.print(f"[dim]{escape(collection.description)}[/dim]")


def print_verification(console: Console, report: VerifyReport) -> None:
    """The ledger chain, blobs and sealed runs that verification checked, and any problems."""
    section(console, "12. Verify")
    console.print(f"ledger entries checked  {report.entries_checked}")
    console.print(f"blobs re-hashed         {report.blobs_checked}")
    console.print(f"sealed runs re-derived  {report.runs_checked}")
    if report.ok:
        console.print("[bold green]OK[/bold green]: the chain is intact and every digest matches")
        return
    console.print(f"[bold red]FAILED[/bold red]: {len(report.problems)} problem(s)")
    for problem in report.problems[:10]:
        console.print(f"  {problem.kind} {escape(problem.id)}: {escape(problem.reason)}")


def print_proof(console: Console, proof: ProofStep) -> None:
    """The checkpoint and the best model's inclusion proof, and what the fresh process said."""
    section(console, "13. Checkpoint and proof")
    console.print(
        f"checkpoint   {escape(proof.checkpoint.name)}: {proof.size} entries, "
        f"root {proof.root[:16]}... (publish it, or keep a copy elsewhere)"
    )
    console.print(f"proof        {escape(proof.proof.name)} for {escape(proof.model.name)}")
    if proof.ok:
        console.print(
            "[bold green]OK[/bold green]: a fresh process, without the workspace, confirmed the "
            "model's bytes are in the signed ledger"
        )
        return
    console.print("[bold red]FAILED[/bold red]: the proof did not check out")
    console.print(escape(proof.output[-2000:]))


def print_next_steps(
    console: Console,
    workspace: Path,
    *,
    best_id: str,
    runner_up_id: str,
    search_filter: str,
    pipeline_run_id: str,
    model_artifact_id: str,
    model_file: str,
    shown: Mapping[str, str],
    seconds: float,
) -> None:
    """Commands to explore the workspace the demo built.

    Args:
        shown: Each id above -> a prefix that names it alone in the workspace.
    """
    section(console, "Next steps")
    where = shlex.quote(str(workspace))
    best, runner_up = shown[best_id], shown[runner_up_id]
    commands = [
        f"labledger runs list -w {where}",
        f"labledger runs search {shlex.quote(search_filter)} -w {where}",
        f"labledger runs show {best} -w {where}",
        f"labledger runs compare {best} {runner_up} -w {where}",
        f"labledger artifacts list -w {where}",
        f"labledger run labledger.demo.pipeline:biopsy_study -p c=0.5 -w {where}",
        f"labledger lineage {shown[model_artifact_id]} --up -w {where}",
        f"labledger reproduce {shown[pipeline_run_id]} -w {where}",
        f"labledger prov {shown[pipeline_run_id]} -o provenance.json -w {where}",
        f"labledger verify --checkpoint {where}/checkpoint.json -w {where}",
        f"labledger verify-proof {where}/best-model-proof.json --file {where}/{model_file}",
    ]
    for line in commands:
        console.print(f"  [bold]$[/bold] {escape(line)}", highlight=False, soft_wrap=True)
    console.print(f"\n[dim]Demo finished in {seconds:.1f} s.[/dim]")
