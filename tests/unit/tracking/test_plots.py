"""plot_metrics: metric curves of runs as a PNG image or a self-contained HTML page."""

from __future__ import annotations

import struct
import sys
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest

from labledger import ConfigurationError, NotFoundError, ValidationError, search_runs
from labledger.tracking import plot_metrics
from labledger.tracking.chart_html import nice_ticks
from labledger.tracking.plots import PALETTE

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


@pytest.fixture
def runs(workspace_factory: Callable[..., Workspace]) -> tuple[Workspace, dict[str, str]]:
    ws = workspace_factory(
        runs=[
            {"name": "baseline", "metrics": {"auc": [0.6, 0.7, 0.75], "loss": [0.9, 0.6, 0.5]}},
            {"name": "tuned", "metrics": {"auc": [0.7, float("nan"), 0.85], "loss": [0.7, 0.3]}},
            {"name": "forest", "metrics": {"loss": [0.4], "accuracy": [0.9]}},
        ]
    )
    return ws, {run.name: run.id for run in search_runs(workspace=ws)}


def test_png_is_a_real_png_of_the_expected_size_with_a_line_per_run(
    runs: tuple[Workspace, dict[str, str]], tmp_path: Path
) -> None:
    from PIL import Image

    ws, ids = runs
    target = tmp_path / "curves.png"
    written = plot_metrics([ids["baseline"], ids["tuned"]], ["auc", "loss"], target, workspace=ws)
    assert written == target
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    # 8 inches wide, 3 per panel, at 100 dots per inch.
    assert struct.unpack(">II", data[16:24]) == (800, 600)
    with Image.open(target) as image:
        colours = {colour for _, colour in image.convert("RGB").getcolors(800 * 600) or []}
    for line in PALETTE[:2]:
        assert tuple(int(line[i : i + 2], 16) for i in (1, 3, 5)) in colours, line


class _Chart(HTMLParser):
    """The figures of a page, each with its series (run ids) and legend entries."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, list[str]]] = {}
        self.current: dict[str, list[str]] = {}
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.in_legend = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found: dict[str, Any] = dict(attrs)
        self.tags.add(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "figure":
            self.current = {"series": [], "legend": []}
            self.figures[found["data-metric"]] = self.current
        elif tag == "polyline":
            assert found["class"] == "series" and found["points"]
            self.current["series"].append(found["data-run"])
        elif tag == "li":
            self.in_legend = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self.in_legend = False

    def handle_data(self, data: str) -> None:
        if self.in_legend:
            self.current["legend"].append(data)


def test_html_holds_one_series_per_run_in_each_panel(
    runs: tuple[Workspace, dict[str, str]], tmp_path: Path
) -> None:
    ws, ids = runs
    target = tmp_path / "curves.html"
    order = [ids["tuned"], ids["baseline"], ids["forest"]]
    plot_metrics(order, ["loss", "auc"], target, workspace=ws)
    page = _Chart()
    page.feed(target.read_text(encoding="utf-8"))
    assert list(page.figures) == ["loss", "auc"]
    assert page.figures["loss"]["series"] == order
    # forest logged no auc: its line is simply absent from that panel.
    assert page.figures["auc"]["series"] == order[:2]
    legend = page.figures["loss"]["legend"]
    assert legend[0].startswith("tuned (") and ids["tuned"].startswith(legend[0][7:-1])
    assert len(legend[0][7:-1]) >= 13
    # Self-contained: no script, nothing to fetch.
    assert "script" not in page.tags and page.urls == []


def test_a_nan_value_is_left_out_of_its_line(
    runs: tuple[Workspace, dict[str, str]], tmp_path: Path
) -> None:
    ws, ids = runs
    target = tmp_path / "curves.html"
    plot_metrics([ids["tuned"]], ["auc"], target, workspace=ws)
    text = target.read_text(encoding="utf-8")
    points = text.split('points="')[1].split('"')[0].split()
    assert len(points) == 2 and text.count("<circle") == 2


def test_an_unknown_metric_names_the_metrics_the_runs_have(
    runs: tuple[Workspace, dict[str, str]], tmp_path: Path
) -> None:
    ws, ids = runs
    with pytest.raises(ValidationError, match="'f1'") as caught:
        plot_metrics(list(ids.values()), ["auc", "f1"], tmp_path / "c.png", workspace=ws)
    assert "accuracy, auc, loss" in str(caught.value)
    assert not (tmp_path / "c.png").exists()


def test_an_unsupported_suffix_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"\.png or \.html"):
        plot_metrics(["no-such-run"], ["auc"], tmp_path / "curves.jpg")
    assert not (tmp_path / "curves.jpg").exists()


def test_an_unknown_run_is_named(runs: tuple[Workspace, dict[str, str]], tmp_path: Path) -> None:
    ws, _ = runs
    with pytest.raises(NotFoundError, match="no run"):
        plot_metrics(["ffffffff-ffff"], ["auc"], tmp_path / "c.html", workspace=ws)


def test_without_matplotlib_a_png_says_what_to_install(
    runs: tuple[Workspace, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, ids = runs
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigurationError, match=r"labledger\[ml\]"):
        plot_metrics([ids["baseline"]], ["auc"], tmp_path / "c.png", workspace=ws)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (1, 9, [0, 2, 4, 6, 8, 10]),
        (0.75, 0.75, [-0.5, 0.0, 0.5, 1.0, 1.5, 2.0]),
    ],
)
def test_ticks_are_round_and_cover_the_range(
    low: float, high: float, expected: list[float]
) -> None:
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


def test_one_value_per_run_is_drawn_as_bars(
    runs: tuple[Workspace, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.axes import Axes

    ws, ids = runs
    drawn: list[str] = []
    real_bar, real_plot = Axes.bar, Axes.plot

    def bar(self: Axes, *args: Any, **kwargs: Any) -> Any:
        drawn.append("bar")
        return real_bar(self, *args, **kwargs)

    def plot(self: Axes, *args: Any, **kwargs: Any) -> Any:
        drawn.append("line")
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", bar)
    monkeypatch.setattr(Axes, "plot", plot)
    plot_metrics([ids["forest"]], ["accuracy"], tmp_path / "one.png", workspace=ws)
    assert drawn == ["bar"]
    drawn.clear()
    plot_metrics([ids["baseline"], ids["tuned"]], ["loss"], tmp_path / "two.png", workspace=ws)
    assert drawn == ["line", "line"]
