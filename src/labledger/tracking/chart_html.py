"""Metric curves as a self-contained HTML page: one inline SVG panel per metric, no script.

Every element carries its own colours, so a panel copied out of the page draws the same. Each
run's line is a ``<polyline class="series">`` with ``data-run`` (its id) and ``data-metric``,
a ``<title>`` naming the run (a browser shows it on hover), and a dot per point with its own
``<title>`` giving the step and value. Nothing is fetched, so the page opens offline and can be
attached to a report as it is.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from labledger.tracking.plots import Curve

__all__ = ["metric_page", "nice_ticks"]

_WIDTH, _HEIGHT = 760, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 20, 45
_TICKS = 6
_MARKERS_UP_TO = 30

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 18px; font-weight: 600; }
figure { margin: 0 0 28px 0; }
figcaption { font-size: 14px; font-weight: 600; margin-bottom: 4px; }
ul.legend { list-style: none; padding: 0; margin: 4px 0 0 0; font-size: 12px; }
ul.legend li { display: inline-block; margin-right: 16px; }
ul.legend span { display: inline-block; width: 14px; height: 3px; margin-right: 5px;
  vertical-align: middle; }
"""


def metric_page(curves: Mapping[str, Sequence[Curve]]) -> str:
    """The HTML page: a heading, then per metric a titled SVG chart and a legend of its runs."""
    panels = "\n".join(_panel(metric, lines) for metric, lines in curves.items())
    title = escape("metrics: " + ", ".join(curves))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n{panels}\n</body>\n</html>\n"
    )


def nice_ticks(low: float, high: float, count: int = _TICKS) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) covering low..high."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        low, high = low - 1, high + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [index * step for index in range(first, last + 1)]


def _panel(metric: str, curves: Sequence[Curve]) -> str:
    steps = [s for c in curves for s in c.steps]
    values = [v for c in curves for v in c.values]
    xs = nice_ticks(min(steps), max(steps))
    ys = nice_ticks(min(values), max(values))
    x0, x1, y0, y1 = xs[0], xs[-1], ys[0], ys[-1]
    inner_w, inner_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def px(step: float) -> float:
        return _LEFT + (step - x0) / (x1 - x0) * inner_w

    def py(value: float) -> float:
        return _TOP + inner_h - (value - y0) / (y1 - y0) * inner_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{escape(metric)} by step" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11" fill="#444444">'
    ]
    for tick in ys:
        y = py(tick)
        parts.append(
            f'<line class="grid" stroke="#e4e4e4" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(tick)}</text>'
        )
    for tick in xs:
        x = px(tick)
        parts.append(
            f'<line class="grid" stroke="#e4e4e4" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_TOP + inner_h}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{_TOP + inner_h + 16}" text-anchor="middle">{_number(tick)}</text>'
        )
    bottom = _TOP + inner_h
    parts.append(
        f'<line class="axis" stroke="#888888" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{bottom}" y2="{bottom}"/>'
    )
    parts.append(
        f'<line class="axis" stroke="#888888" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{bottom}"/>'
    )
    parts.append(
        f'<text x="{_LEFT + inner_w / 2:.1f}" y="{_HEIGHT - 6}" text-anchor="middle">step</text>'
    )
    parts.append(
        f'<text transform="translate(14 {_TOP + inner_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(metric)}</text>'
    )
    for curve in curves:
        points = " ".join(
            f"{px(s):.1f},{py(v):.1f}" for s, v in zip(curve.steps, curve.values, strict=True)
        )
        parts.append(
            f'<polyline class="series" fill="none" stroke-width="1.8" data-run="{escape(curve.run_id)}" '
            f'data-metric="{escape(metric)}" stroke="{curve.colour}" points="{points}">'
            f"<title>{escape(curve.label)}</title></polyline>"
        )
        if len(curve.steps) <= _MARKERS_UP_TO:
            for s, v in zip(curve.steps, curve.values, strict=True):
                parts.append(
                    f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="2.5" fill="{curve.colour}">'
                    f"<title>{escape(curve.label)}: step {s}, {escape(metric)} {_number(v)}"
                    "</title></circle>"
                )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span style="background:{c.colour}"></span>{escape(c.label)}</li>' for c in curves
    )
    return (
        f'<figure data-metric="{escape(metric)}">\n<figcaption>{escape(metric)}</figcaption>\n'
        + "\n".join(parts)
        + f'\n<ul class="legend">{legend}</ul>\n</figure>'
    )


def _number(value: float) -> str:
    return f"{value:.6g}"
