"""The demo's pipeline part: run the study pipeline on a CSV file, re-run it cached, change a
parameter, correct one value in the file and let ``status`` say what re-runs and why, reproduce the
run from before the correction bit for bit (from the bytes it recorded), and follow the lineage of
the best model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from labledger.demo.pipeline import biopsy_study, write_biopsies
from labledger.demo.report import section
from labledger.lineage import ancestors, graph_reproducibility, reproducibility
from labledger.lineage.display import lineage_tree
from labledger.pipelines import reproduce, status

if TYPE_CHECKING:
    from rich.console import Console

    from labledger.pipelines import PipelineRun, Reproduction
    from labledger.workspace.workspace import Workspace

__all__ = ["PipelineTour", "run_pipeline_tour"]

CHANGED = {"n_estimators": 400}
_STATUS = {"finished": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}
_MODELS = {"logistic": "train_logistic", "forest": "train_forest"}


@dataclass(frozen=True, slots=True)
class PipelineTour:
    """What the pipeline part of the demo did.

    Attributes:
        first_run_id: The first run of the study pipeline.
        cached_run_id: The identical second run.
        changed_run_id: The run with a changed parameter.
        rerun_steps: Steps the changed run executed.
        best_model: ``logistic`` or ``forest``, by test AUC.
        best_model_artifact_id: The best model's artifact.
        best_model_status: Its reproducibility status after ``reproduce``.
        reproduced: Whether every output of the changed run was reproduced bit for bit.
        biopsies: The CSV file the pipeline reads.
        edit_reasons: What ``status`` said about ``ingest`` after one value in the file changed.
        edited_run_id: The run after that edit.
        edited_rerun_steps: Steps that run executed.
    """

    first_run_id: str
    cached_run_id: str
    changed_run_id: str
    rerun_steps: tuple[str, ...]
    best_model: str
    best_model_artifact_id: str
    best_model_status: str
    reproduced: bool
    biopsies: str
    edit_reasons: tuple[str, ...]
    edited_run_id: str
    edited_rerun_steps: tuple[str, ...]


def _tasks_table(result: PipelineRun, title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("step", "status", "took", "output"):
        table.add_column(column, no_wrap=column != "output")
    for task in result.tasks.values():
        outputs = ", ".join(f"{name} {digest[7:19]}" for name, digest in task.digests.items())
        took = f"{task.duration:.2f} s" if task.status == "finished" else ""
        table.add_row(task.node, Text(task.status, style=_STATUS[task.status]), took, outputs)
    return table


def _timed_run(ws: Workspace, **params: object) -> tuple[PipelineRun, float]:
    started = time.perf_counter()
    result = biopsy_study.run(workspace=ws, run_name="biopsy-study", **params)  # type: ignore[arg-type]
    return result, time.perf_counter() - started


def _correct_one_value(path: Path) -> str:
    """Change one measurement of the first sample, as a corrected export would; say which."""
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[1].rstrip("\n").split(",")
    column = header.index("mean radius")
    old = cells[column]
    cells[column] = f"{float(old) + 0.5:.6g}"
    lines[1] = ",".join(cells) + "\n"
    path.write_text("".join(lines))
    return f"{cells[0]} {header[column]}: {old} -> {cells[column]}"


def _reproduction_table(result: Reproduction) -> Table:
    table = Table(header_style="bold")
    for column in ("output", "result", "digest"):
        table.add_column(column)
    for check in result.checks:
        name = check.node if check.output == "out" else f"{check.node}.{check.output}"
        verdict = Text("match", "green") if check.matched else Text("differs", "red")
        table.add_row(name, verdict, check.expected[7:19])
    return table


def run_pipeline_tour(ws: Workspace, console: Console) -> PipelineTour:
    """Run the pipeline part of the demo in ``ws``, printing each step to ``console``."""
    section(console, "8. Pipeline: ingest -> quality filter -> features -> 2 models -> evaluation")
    folder = ws.settings.root.parent if ws.settings.root is not None else Path.cwd()
    biopsies = str(write_biopsies(folder / "data" / "biopsies.csv"))
    console.print(
        f"the pipeline reads [bold]{biopsies}[/bold] (a file input: part of the cache key)"
    )
    first, seconds = _timed_run(ws, biopsies=biopsies)
    console.print(_tasks_table(first, f"first run: every step ran ({seconds:.1f} s)"))

    cached, seconds = _timed_run(ws, biopsies=biopsies)
    console.print(
        f"second run: [cyan]{len(cached.cached)} of {len(cached.tasks)} steps from the cache[/cyan]"
        f" in {seconds:.2f} s, same outputs"
    )

    changed, seconds = _timed_run(ws, biopsies=biopsies, **CHANGED)
    console.print(
        _tasks_table(changed, f"n_estimators=400: only what depends on it re-ran ({seconds:.1f} s)")
    )

    scores = changed.load("evaluate")
    best = max(scores, key=lambda name: scores[name]["auc"])
    console.print(
        "test AUC: "
        + ", ".join(f"{name} {values['auc']:.4f}" for name, values in sorted(scores.items()))
        + f"  -> best: [bold]{best}[/bold]"
    )

    section(console, "9. One value in the input file is corrected: what re-runs, and why")
    what = _correct_one_value(Path(biopsies))
    console.print(f"edited {Path(biopsies).name}: {what}")
    found = status(biopsy_study, {"biopsies": biopsies, **CHANGED}, workspace=ws)
    for step_status in found.steps:
        reasons = "; ".join(reason.message for reason in step_status.reasons)
        state = (
            "[cyan]cached[/cyan]" if step_status.state == "cached" else "[yellow]will run[/yellow]"
        )
        console.print(f"  {step_status.node:<15} {state}  {reasons}", highlight=False)
    edited, seconds = _timed_run(ws, biopsies=biopsies, **CHANGED)
    console.print(
        f"re-run on the corrected file: {len(edited.executed)} steps ran, "
        f"{len(edited.cached)} from the cache ({seconds:.1f} s)"
    )

    section(
        console,
        "10. Reproduce the run before the correction, from its code snapshot and the input "
        "bytes it recorded",
    )
    reproduction = reproduce(changed.run_id, workspace=ws)
    console.print(_reproduction_table(reproduction))
    matched = sum(check.matched for check in reproduction.checks)
    style = "bold green" if reproduction.matched else "bold red"
    console.print(
        Text(f"{matched}/{len(reproduction.checks)} outputs reproduced bit for bit", style)
    )

    model_id = changed.artifact_id(_MODELS[best])
    graph = ancestors(model_id, workspace=ws)
    statuses = {k: str(v) for k, v in graph_reproducibility(graph, workspace=ws).items()}
    section(console, f"11. Lineage of the best model ({best}), coloured by reproducibility")
    console.print(lineage_tree(graph, statuses))
    ingest_status = next(s for s in found.steps if s.node == "ingest")
    return PipelineTour(
        first_run_id=first.run_id,
        cached_run_id=cached.run_id,
        changed_run_id=changed.run_id,
        rerun_steps=tuple(changed.executed),
        best_model=best,
        best_model_artifact_id=model_id,
        best_model_status=str(reproducibility(model_id, workspace=ws)),
        reproduced=reproduction.matched,
        biopsies=biopsies,
        edit_reasons=tuple(reason.message for reason in ingest_status.reasons),
        edited_run_id=edited.run_id,
        edited_rerun_steps=tuple(edited.executed),
    )
