"""The public API is pinned, documented, and cheap to import."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import labledger

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

EXPECTED = {
    "ActiveRun",
    "Artifact",
    "ConfigurationError",
    "File",
    "FilterSyntaxError",
    "Folder",
    "IntegrityError",
    "LabledgerError",
    "LocalExecutor",
    "MetricPoint",
    "NotFoundError",
    "PipelineDefinitionError",
    "Resources",
    "Run",
    "RunComparison",
    "RunStateError",
    "SchemaOutdatedError",
    "StepFailedError",
    "ValidationError",
    "Workspace",
    "WorkspaceError",
    "WorkspaceNotFoundError",
    "__version__",
    "active_run",
    "checkpoint",
    "compare_runs",
    "end_run",
    "get_artifact",
    "get_metric_history",
    "get_run",
    "get_workspace",
    "init",
    "list_artifacts",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "migrate",
    "open_workspace",
    "pipeline",
    "prove",
    "reproduce",
    "search_runs",
    "set_tag",
    "set_tags",
    "set_workspace",
    "start_run",
    "step",
    "verify",
    "verify_proof",
    "verify_server",
}


def test_exported_names_are_pinned() -> None:
    assert set(labledger.__all__) == EXPECTED
    for name in labledger.__all__:
        assert hasattr(labledger, name), name


def test_every_public_callable_has_a_docstring() -> None:
    for name in labledger.__all__:
        obj = getattr(labledger, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"labledger.{name} has no docstring"


def test_api_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_api_docs", ROOT / "scripts" / "gen_api_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == module.render(), "docs/api.md is stale: run `python scripts/gen_api_docs.py`"


def test_every_setting_is_documented() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "labledger").rglob("*.py"))
    settings = set(re.findall(r"\"(LABLEDGER_[A-Z_]+)\"", source))
    assert settings, "no settings found"
    documented = (DOCS / "workspace.md").read_text()
    missing = sorted(s for s in settings if s not in documented)
    assert not missing, f"settings without a docs/workspace.md entry: {missing}"


def test_import_stays_light() -> None:
    code = (
        "import sys, labledger; heavy = ['pandas', 'numpy', 'pyarrow', 'fastapi', 'dask', "
        "'distributed', 'sklearn', 's3fs', 'sqlalchemy.dialects.postgresql', 'psycopg']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_attributes_named_like_modules_are_those_modules() -> None:
    # A function bound over a module of the same name makes ``import a.b as x`` and string patch
    # targets resolve to the function.
    import pkgutil

    packages = [labledger]
    for info in pkgutil.iter_modules(labledger.__path__):
        if info.ispkg:
            packages.append(importlib.import_module(f"labledger.{info.name}"))
    for package in packages:
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_") or not hasattr(package, info.name):
                continue
            value = getattr(package, info.name)
            name = f"{package.__name__}.{info.name}"
            assert value is importlib.import_module(name), name


def test_pipeline_subpackage_is_reachable_by_its_dotted_name() -> None:
    import labledger.pipelines.steps as step_module

    assert step_module.Step.__name__ == "Step"
    assert importlib.import_module("labledger.pipelines").DaskExecutor.__name__ == "DaskExecutor"
