"""``labledger runs``: list, search, show and compare tracked runs (``logs``: run_logs.py,
``reap``: run_reap.py, ``record``: run_record.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from labledger.cli.console import (
    Column,
    catalog_short_ids,
    command,
    console,
    err_console,
    format_bytes,
    format_duration,
    format_time,
    format_value,
    print_json,
    print_table,
    sparkline,
)
from labledger.cli.options import (
    JsonOption,
    LimitOption,
    WideOption,
    WorkspaceOption,
    open_workspace,
)
from labledger.cli.plots import plot_command
from labledger.cli.run_logs import logs_command
from labledger.cli.run_reap import reap_command
from labledger.cli.run_record import record_command

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.pipelines.run_detail import RunDetail
    from labledger.tracking.filter_hints import UnknownKey
    from labledger.tracking.types import MetricPoint, Run, RunComparison
    from labledger.workspace.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "List, search, show and compare tracked runs, print their steps' logs, seal dead "
        "runs as crashed, and record a run from the shell.\n\n"
        "Example:\n\n"
        '    labledger runs list --filter "metrics.auc > 0.8"'
    ),
    no_args_is_help=True,
    add_completion=False,
)

_DEFAULT_METRIC_COLUMNS = 4

FilterOption = Annotated[
    str | None,
    typer.Option(
        "--filter",
        "-f",
        metavar="FILTER",
        help="Only runs matching this filter, e.g. 'metrics.auc > 0.8 and params.model = \"gbm\"'.",
        show_default=False,
    ),
]
OrderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--order-by",
        "-o",
        metavar="KEY",
        help="Sort key such as 'metrics.auc desc' or 'started_at'; repeat for more keys.",
        show_default=False,
    ),
]
MetricColumnsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        "--metrics",
        "-m",
        metavar="NAME[,NAME...]",
        help="Metrics to show as columns, e.g. --metrics auc,loss (default: those of the most "
        "recent runs, at most four; names starting with _ or system/ are skipped).",
        show_default=False,
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project", metavar="NAME", help="Only runs of this project.", show_default=False
    ),
]


def _metric_columns(runs: Sequence[Run], chosen: Sequence[str] | None) -> list[str]:
    from labledger.tracking.metric_rules import default_metric_keys

    if chosen:
        return [key.strip() for item in chosen for key in item.split(",") if key.strip()]
    return default_metric_keys(runs, _DEFAULT_METRIC_COLUMNS)


def _status_text(run: Run) -> Text:
    if run.lost is not None:
        # Still stored as running, but its process is gone: a writer will seal it crashed.
        return Text(f"{run.status} (lost: {run.lost})", style="red")
    style = {"finished": "green", "running": "cyan", "failed": "red", "crashed": "red"}.get(
        run.status, "yellow"
    )
    return Text(run.status, style=style)


def _run_ids(ws: Workspace, runs: Sequence[Run], wide: bool) -> dict[str, str]:
    if wide:
        return {run.id: run.id for run in runs}
    return catalog_short_ids(ws, [run.id for run in runs], "run")


def _project_names(ws: Workspace, runs: Sequence[Run]) -> dict[str | None, str]:
    """The name of each project ``runs`` are in, by id."""
    names: dict[str | None, str] = {}
    for project_id in dict.fromkeys(run.project_id for run in runs):
        found = ws.project_name(project_id) if project_id is not None else None
        names[project_id] = found or project_id or ""
    return names


def _print_runs(
    runs: Sequence[Run],
    shown: dict[str, str],
    projects: dict[str | None, str],
    metric_columns: Sequence[str] | None,
    wide: bool,
) -> None:
    metrics = _metric_columns(runs, metric_columns)
    # The project and the user are shown when the runs listed differ in them (or are in a
    # project other than the default one): a list of one person's runs stays as it was.
    from labledger.workspace.workspace import DEFAULT_PROJECT

    with_project = set(projects.values()) not in ({DEFAULT_PROJECT}, set())
    with_user = len({run.user for run in runs}) > 1
    rows = [
        [
            shown[run.id],
            run.name,
            *([projects[run.project_id]] if with_project else []),
            *([run.user] if with_user else []),
            _status_text(run),
            format_time(run.started_at),
            format_duration(run.duration_s),
            *(run.metrics.get(key) for key in metrics),
        ]
        for run in runs
    ]
    # Narrow terminals hide the duration first, then the later metrics, then the start time.
    columns = [
        Column("id"),
        Column("name"),
        *([Column("project", drop=1)] if with_project else []),
        *([Column("user", drop=1)] if with_user else []),
        Column("status"),
        Column("started", drop=3),
        Column("duration", drop=10),
        *(
            Column(key, drop=2 if index == 0 else 4 + index, justify="right")
            for index, key in enumerate(metrics)
        ),
    ]
    print_table(None, columns, rows, empty="no runs match", markup=False, wide=wide)


def _list(
    workspace: str | None,
    filter_text: str | None,
    order_by: Sequence[str] | None,
    limit: int,
    project: str | None,
    metric: Sequence[str] | None,
    as_json: bool,
    wide: bool,
) -> None:
    from labledger._foundation.errors import NotFoundError
    from labledger.tracking import search_runs

    with open_workspace(workspace) as ws:
        if project is not None and ws.find_project_id(project) is None:
            # A mistyped name would otherwise list nothing, as a project without runs does.
            raise NotFoundError(
                f"no project called {project!r}"
                + (" that you are a member of" if ws.settings.server_url else ""),
                hint="see `labledger projects list`",
            )
        runs = search_runs(
            filter_text, order_by=order_by, max_results=limit, project=project, workspace=ws
        )
        projects = _project_names(ws, runs)
        shown = {} if as_json else _run_ids(ws, runs, wide)
        unknown = [] if runs or not filter_text else _unknown(filter_text, project, ws)
    if as_json:
        print_json(
            [{**dataclasses.asdict(run), "project": projects[run.project_id]} for run in runs]
        )
    else:
        _print_runs(runs, shown, projects, metric, wide)
    for key in unknown:
        near = f": did you mean {key.suggestion}?" if key.suggestion else ""
        err_console.print(Text(f"no run has {key.name}{near}", style="yellow"), highlight=False)


def _unknown(filter_text: str, project: str | None, ws: Workspace) -> list[UnknownKey]:
    """Why a filter found nothing, when a name in it is the reason (said on stderr)."""
    from labledger.tracking.filter_hints import unknown_keys

    return unknown_keys(filter_text, project=project, workspace=ws)


@app.command("list")
@command
def list_runs(
    filter_text: FilterOption = None,
    order_by: OrderOption = None,
    metric: MetricColumnsOption = None,
    project: ProjectOption = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
    wide: WideOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List runs, newest first, with their status, duration and key metrics.

    Example:

        labledger runs list --filter "status = 'finished'" --order-by "metrics.auc desc" -n 10
    """
    _list(workspace, filter_text, order_by, limit, project, metric, as_json, wide)


@app.command("search")
@command
def search(
    filter_text: Annotated[
        str, typer.Argument(metavar="FILTER", help="Filter, e.g. 'metrics.auc > 0.8'.")
    ],
    order_by: OrderOption = None,
    metric: MetricColumnsOption = None,
    project: ProjectOption = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
    wide: WideOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Find runs matching a filter on metrics, params, tags and attributes.

    Example:

        labledger runs search "metrics.auc > 0.8 and params.model = 'gbm'" --json
    """
    _list(workspace, filter_text, order_by, limit, project, metric, as_json, wide)


def _history_by_key(points: Sequence[MetricPoint]) -> dict[str, list[MetricPoint]]:
    history: dict[str, list[MetricPoint]] = {}
    for point in points:
        history.setdefault(point.key, []).append(point)
    return history


def _run_json(
    detail: RunDetail, history: dict[str, list[MetricPoint]], project: str
) -> dict[str, Any]:
    run = detail.run
    return {
        "id": run.id,
        "name": run.name,
        "project": project,
        "project_id": run.project_id,
        "status": run.status,
        "kind": run.kind,
        "user": run.user,
        "host": run.host,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": run.duration_s,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
        "environment_digest": run.environment_digest,
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
        "record_digest": run.record_digest,
        "error": run.error,
        "heartbeat_at": run.heartbeat_at,
        "lost": run.lost,
        "metric_history": {
            key: [{"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in points]
            for key, points in history.items()
        },
        "tasks": detail.tasks,
        "outputs": detail.outputs,
        "artifacts": [
            {
                "id": a.id,
                "name": a.name,
                "kind": a.kind,
                "format": a.format,
                "digest": a.digest,
                "size": a.size,
                "created_at": a.created_at,
            }
            for a in detail.logged
        ],
        "has_logs": detail.has_logs,
        "metadata": detail.metadata,
        "collections": detail.collections,
    }


def _print_overview(run: Run, project: str) -> None:
    git = ""
    if run.git_commit:
        git = run.git_commit[:12] + (" (dirty)" if run.git_dirty else "")
    overview = [
        ("id", run.id),
        ("name", run.name),
        ("project", project),
        ("status", _status_text(run)),
        ("kind", run.kind),
        ("user", run.user),  # as a filter names it: user = 'alice'
        ("host", run.host),
        ("started", format_time(run.started_at)),
        ("ended", format_time(run.ended_at)),
        ("duration", format_duration(run.duration_s)),
        ("environment", run.environment_digest or ""),
        ("git", git),
        ("record", run.record_digest or "not sealed yet"),
    ]
    print_table(f"run {run.name}", ["field", "value"], overview, markup=False)


def _reused_metrics(run: Run) -> dict[str, str]:
    from labledger.pipelines.runner import REUSED_METRICS_TAG

    try:
        found = json.loads(run.tags.get(REUSED_METRICS_TAG, "{}"))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _print_metrics(run: Run, history: dict[str, list[MetricPoint]]) -> None:
    reused = _reused_metrics(run)
    metric_rows = []
    for key, value in run.metrics.items():
        values = [p.value for p in history.get(key, [])]
        chart = Text(sparkline(values), style="cyan") if len(values) > 1 else ""
        source = f"reused from run {reused[key][:13]}" if key in reused else ""
        metric_rows.append([key, value, len(values), chart, source])
    print_table(
        "metrics",
        [Column("metric"), Column("latest", justify="right"), Column("points", drop=2),
         Column("history", drop=1), Column("from", drop=3)],
        metric_rows,
        empty="no metrics",
        markup=False,
    )  # fmt: skip


_INPUT_KIND = {"file": "file", "tree": "folder", "reference": "reference only"}
_TASK_STYLE = {"finished": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}


def _print_pipeline(detail: RunDetail, shown: dict[str, str], wide: bool) -> None:
    tasks = [
        [
            task.node,
            Text(task.status, style=_TASK_STYLE.get(task.status, "")),
            format_duration(task.duration_s),
            "yes" if task.has_log else "",
            task.step,
        ]
        for task in detail.tasks
    ]
    columns = [
        Column("task"),
        Column("status"),
        Column("took", justify="right"),
        Column("log", drop=2),
        Column("step", drop=1),
    ]
    print_table("tasks", columns, tasks, markup=False, wide=wide)
    outputs = [
        [
            f"{output.node}.{output.name}" if output.name != "out" else output.node,
            output.artifact_name,
            shown.get(output.artifact_id, output.artifact_id),
            "made" if output.produced else "reused",
        ]
        for output in detail.outputs
    ]
    columns = [Column("output"), Column("artifact", drop=1), Column("id"), Column("made")]
    print_table("outputs", columns, outputs, empty="no outputs", markup=False, wide=wide)
    if detail.has_logs:
        run = shown.get(detail.run.id, detail.run.id)
        console.print(
            Text(f"captured output: labledger runs logs {run} TASK shows a task's log"),
            highlight=False,
        )


def _print_logged(detail: RunDetail, shown: dict[str, str], wide: bool) -> None:
    from labledger.pipelines.run_detail import LOGGED_SHOWN

    rows = [
        [a.name, a.kind, format_bytes(a.size), format_time(a.created_at), shown.get(a.id, a.id)]
        for a in detail.logged
    ]
    columns = [
        Column("artifact"),
        Column("kind", drop=2),
        Column("size", justify="right", drop=1),
        Column("logged", drop=3),
        Column("id"),
    ]
    print_table("artifacts", columns, rows, markup=False, wide=wide)
    if len(detail.logged) >= LOGGED_SHOWN:
        console.print(
            Text(f"the newest {LOGGED_SHOWN}: labledger artifacts list --run RUN lists them all"),
            highlight=False,
        )


def _print_run(
    detail: RunDetail,
    history: dict[str, list[MetricPoint]],
    shown: dict[str, str],
    project: str,
    wide: bool,
) -> None:
    run = detail.run
    _print_overview(run, project)
    print_table(
        "params", ["param", "value"], sorted(run.params.items()), empty="no params", markup=False
    )
    _print_metrics(run, history)
    from labledger.pipelines.runner import REUSED_METRICS_TAG

    tags = sorted((k, v) for k, v in run.tags.items() if k != REUSED_METRICS_TAG)
    print_table("tags", ["tag", "value"], tags, empty="no tags", markup=False)
    if detail.tasks:
        _print_pipeline(detail, shown, wide)
    if detail.logged:
        _print_logged(detail, shown, wide)
    if detail.inputs:
        rows = [
            [item.path, _INPUT_KIND.get(item.kind, item.kind), item.content[7:19]]
            for item in detail.inputs
        ]
        print_table("files read", ["path", "kept as", "digest"], rows, markup=False)
    if detail.metadata:
        rows = [
            [entry.field, format_value(entry.value), entry.unit or ""] for entry in detail.metadata
        ]
        print_table("metadata", ["field", "value", "unit"], rows, markup=False)
    if detail.collections:
        console.print(Text(f"in collections: {', '.join(detail.collections)}"), highlight=False)
    if run.error:
        console.print(Text("error", style="bold red"))
        console.print(Text(run.error.rstrip()))


@app.command("show")
@command
def show(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="Run id, or a unique prefix of it.")
    ],
    as_json: JsonOption = False,
    wide: WideOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one run: params, metrics with their history, tags, and for a pipeline run its tasks,
    every output (reused ones too) and whether logs were captured, for a tracked run the artifacts
    it logged; then metadata and collections.

    Example:

        labledger runs show 01a24372-fc
    """
    from labledger.pipelines.run_detail import describe_run
    from labledger.tracking import get_metric_history

    with open_workspace(workspace) as ws:
        detail = describe_run(run_id, workspace=ws)
        history = _history_by_key(get_metric_history(detail.run.id, workspace=ws))
        ids = [output.artifact_id for output in detail.outputs]
        ids += [artifact.id for artifact in detail.logged]
        shown = {i: i for i in ids} if wide else catalog_short_ids(ws, ids, "artifact")
        shown.update(_run_ids(ws, [detail.run], wide))
        project = _project_names(ws, [detail.run])[detail.run.project_id]
    if as_json:
        print_json(_run_json(detail, history, project))
    else:
        _print_run(detail, history, shown, project, wide)


_DIFFERS = "≠"


def _compare_rows(
    comparison: RunComparison, inputs: Sequence[dict[str, str]] = ()
) -> list[list[Any]]:
    runs = comparison.runs
    rows: list[list[Any]] = [
        [Text("name", style="dim"), *(run.name for run in runs)],
        [Text("status", style="dim"), *(_status_text(run) for run in runs)],
        [Text("duration", style="dim"), *(format_duration(run.duration_s) for run in runs)],
    ]
    # The files each run's steps read, by digest: the same params on other data differ here.
    for path in sorted({path for found in inputs for path in found}):
        digests = [found.get(path) for found in inputs]
        differs = len(set(digests)) > 1
        style = "bold yellow" if differs else ""
        cells = [Text(digest[7:19] if digest else "-", style=style) for digest in digests]
        label = f"{_DIFFERS} file {path}" if differs else f"  file {path}"
        rows.append([Text(label, style=style), *cells])
    for key in comparison.param_keys:
        differs = key in comparison.differing_params
        style = "bold yellow" if differs else ""
        cells = [Text(format_value(run.params.get(key)), style=style) for run in runs]
        label = f"{_DIFFERS} params.{key}" if differs else f"  params.{key}"
        rows.append([Text(label, style=style), *cells])
    for key in comparison.metric_keys:
        best = comparison.best.get(key)
        cells = []
        for run in runs:
            value = run.metrics.get(key)
            text = format_value(None if value is None or math.isnan(value) else value)
            cells.append(Text(f"{text} *", style="bold green") if run.id == best else Text(text))
        direction = "lower" if key in comparison.lower_is_better else "higher"
        rows.append([Text(f"  metrics.{key} ({direction})"), *cells])
    return rows


@app.command("compare")
@command
def compare(
    run_ids: Annotated[
        list[str],
        typer.Argument(metavar="RUN_ID...", help="Two or more run ids.", show_default=False),
    ],
    higher_is_better: Annotated[
        list[str] | None,
        typer.Option(
            "--higher-is-better",
            metavar="NAME",
            help="Metric where higher wins even if its name says loss, error, std or time; "
            "repeatable.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Put runs side by side: differing params marked ≠, the best value of each metric marked *.

    Metrics named like losses, errors, spreads or times (loss, error, rmse, mae, std, var,
    variance, time, duration, latency...) count lower as better; all others higher.

    Example:

        labledger runs compare 01a24372-f8 01a24372-fc
    """
    from labledger.pipelines.replay_inputs import recorded_inputs
    from labledger.tracking import compare_runs

    with open_workspace(workspace) as ws:
        comparison = compare_runs(run_ids, higher_is_better=higher_is_better or (), workspace=ws)
        shown = _run_ids(ws, comparison.runs, wide)
        inputs = [
            {item.path: item.content for item in recorded_inputs(ws, run.id)}
            for run in comparison.runs
        ]
    if as_json:
        files = {run.id: found for run, found in zip(comparison.runs, inputs, strict=True)}
        print_json({**dataclasses.asdict(comparison), "files_read": files})
        return
    columns = [Column(""), *(Column(shown[run.id], wrap=True) for run in comparison.runs)]
    rows = _compare_rows(comparison, inputs if any(inputs) else ())
    print_table("runs compared", columns, rows, markup=False, wide=wide)
    console.print(
        Text(
            f"{_DIFFERS} marks params and files read that differ; * marks the best value of each metric "
            "(higher or lower is better, as shown)",
            style="dim",
        )
    )


app.command("plot")(plot_command)
app.command("logs")(logs_command)
app.command("reap")(reap_command)
app.command("record")(record_command)
