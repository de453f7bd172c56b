"""Metric curves of runs as a picture: value against step, one line per run, one panel per metric.

``plot_metrics`` writes a PNG (drawn by matplotlib, from the ``ml`` extra) or a self-contained HTML
page (inline SVG, no script and nothing fetched from the network), chosen by the file's suffix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labledger._foundation.display import short_ids
from labledger._foundation.errors import ConfigurationError, ValidationError
from labledger._foundation.extras import install_hint
from labledger.tracking.query import get_metric_history, get_run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.workspace.workspace import Workspace

__all__ = ["PALETTE", "Curve", "plot_metrics"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""Line colours, one per run in the order given (matplotlib's ``tab10``), reused past ten runs."""

_SUFFIXES = (".png", ".html")
# 100 dots per inch: a PNG is 800 pixels wide and 300 high per metric.
_DPI = 100
_WIDTH_IN, _PANEL_IN = 8.0, 3.0
# Past this many points a marker on each one hides the line.
_MARKERS_UP_TO = 30
# Run ids shown as long as the command line shows them, so they can be passed back.
_SHORT_ID = 13


@dataclass(frozen=True, slots=True)
class Curve:
    """One run's values of one metric, ready to draw.

    Attributes:
        run_id: The run's id.
        label: The run's name and short id, as the legend shows it.
        colour: The line's colour.
        metric: The metric's key.
        steps: The steps, ascending.
        values: The value at each step (non-finite values left out).
    """

    run_id: str
    label: str
    colour: str
    metric: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


def plot_metrics(
    run_ids: Sequence[str],
    metrics: Sequence[str],
    path: str | Path,
    *,
    workspace: Workspace | None = None,
) -> Path:
    """Draw metric curves of runs into a PNG image or an HTML page.

    Each metric gets a panel with the value against the step, one line per run that logged it;
    the legend names each run with its short id.

    Args:
        run_ids: Run ids or unique prefixes, in legend order.
        metrics: Metric keys, one panel each, in that order.
        path: The file to write; ``.png`` (needs matplotlib: ``pip install 'labledger[ml]'``) or
            ``.html`` (a self-contained page with inline SVG).
        workspace: Defaults to the current workspace.

    Returns:
        The path written.

    Raises:
        ValidationError: The suffix is neither ``.png`` nor ``.html``, no run or metric is given,
            or none of the runs logged one of the metrics (the message names those they have).
        NotFoundError: A run id matches no run.
        ConfigurationError: A PNG was asked for and matplotlib is not installed.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValidationError(
            f"cannot draw metric curves into {target.name!r}: the suffix must be .png or .html",
            hint="name the output curves.png (an image) or curves.html (a page for a browser)",
        )
    if not run_ids or not metrics:
        raise ValidationError(
            "plotting needs at least one run and one metric", hint="pass RUN... and --metric NAME"
        )
    curves = _curves(list(dict.fromkeys(run_ids)), list(dict.fromkeys(metrics)), workspace)
    if suffix == ".png":
        _write_png(curves, target)
    else:
        from labledger.tracking.chart_html import metric_page

        target.write_text(metric_page(curves), encoding="utf-8")
    return target


def _curves(
    run_ids: list[str], metrics: list[str], workspace: Workspace | None
) -> dict[str, list[Curve]]:
    runs = [get_run(run_id, workspace=workspace) for run_id in run_ids]
    short = short_ids([run.id for run in runs], minimum=_SHORT_ID)
    by_metric: dict[str, list[Curve]] = {metric: [] for metric in metrics}
    available: set[str] = set()
    for index, run in enumerate(runs):
        points = get_metric_history(run.id, workspace=workspace)
        available.update(point.key for point in points)
        for metric in metrics:
            kept = [(p.step, p.value) for p in points if p.key == metric and math.isfinite(p.value)]
            if not kept:
                continue
            by_metric[metric].append(
                Curve(
                    run.id,
                    f"{run.name} ({short[run.id]})",
                    PALETTE[index % len(PALETTE)],
                    metric,
                    tuple(step for step, _ in kept),
                    tuple(value for _, value in kept),
                )
            )
    missing = [metric for metric, curves in by_metric.items() if not curves]
    if missing:
        named = ", ".join(sorted(available)) if available else "none"
        raise ValidationError(
            f"no run given has a metric named {missing[0]!r}",
            hint=f"metrics these runs logged: {named}",
        )
    return by_metric


def _write_png(curves: dict[str, list[Curve]], target: Path) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigurationError(
            "drawing a PNG needs matplotlib, which is not installed",
            hint=f"{install_hint('ml')}, or write an .html page instead",
        ) from exc
    # A Figure with its own Agg canvas: no pyplot, so no global backend or figure registry.
    figure = Figure(figsize=(_WIDTH_IN, _PANEL_IN * len(curves)), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(curves), 1, squeeze=False)[:, 0]
    for panel, (metric, lines) in zip(axes, curves.items(), strict=True):
        if all(len(curve.steps) == 1 for curve in lines):
            # One value per run (a final score): bars side by side say more than dots on a line.
            positions = range(len(lines))
            panel.bar(
                positions, [c.values[0] for c in lines], color=[c.colour for c in lines], width=0.6
            )
            panel.set_xticks(list(positions), [c.label for c in lines], fontsize=8)
            panel.set_title(metric, loc="left", fontsize=11)
            panel.set_ylabel(metric)
            panel.grid(visible=True, axis="y", alpha=0.3)
            continue
        for curve in lines:
            panel.plot(
                curve.steps,
                curve.values,
                color=curve.colour,
                label=curve.label,
                marker="o" if len(curve.steps) <= _MARKERS_UP_TO else None,
                markersize=4,
                linewidth=1.5,
            )
        panel.set_title(metric, loc="left", fontsize=11)
        panel.set_xlabel("step")
        panel.set_ylabel(metric)
        panel.grid(visible=True, alpha=0.3)
        panel.xaxis.get_major_locator().set_params(integer=True)
        panel.legend(fontsize=8, loc="best")
    figure.savefig(target, format="png", dpi=_DPI)
