"""The lineage package's public names are pinned and documented."""

from __future__ import annotations

from pathlib import Path

import labledger.lineage

EXPECTED = {
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageView",
    "ReproStatus",
    "StatusExplanation",
    "ancestors",
    "collapse_tasks",
    "descendants",
    "explain_status",
    "export_prov",
    "graph_reproducibility",
    "lineage_document",
    "lineage_view",
    "render_image",
    "reproducibility",
    "run_lineage",
    "to_dot",
    "to_mermaid",
}

DOCS = Path(__file__).resolve().parents[3] / "docs" / "lineage.md"


def test_exported_names_are_pinned_and_documented() -> None:
    assert set(labledger.lineage.__all__) == EXPECTED
    page = DOCS.read_text(encoding="utf-8")
    for name in EXPECTED:
        obj = getattr(labledger.lineage, name)
        assert (obj.__doc__ or "").strip(), f"labledger.lineage.{name} has no docstring"
        assert f"`{name}" in page, f"docs/lineage.md does not mention {name}"


def test_importing_lineage_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, labledger.lineage; "
        "print([m for m in ('prov', 'pandas', 'numpy', 'networkx', 'rdflib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
