"""A step's environment covers the packages its code can reach, and only those."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from labledger.pipelines import step_environment as env_module
from labledger.pipelines.fingerprint import fingerprint_step
from labledger.pipelines.step_environment import distribution_closure, step_environment

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


def _clear() -> None:
    from labledger.tracking.environment import installed_distributions

    installed_distributions.cache_clear()
    env_module._installed.cache_clear()
    env_module._module_owners.cache_clear()
    step_environment.cache_clear()


def _write_distribution(
    site: Path, name: str, version: str, requires: tuple[str, ...] = ()
) -> None:
    info = site / f"{name}-{version}.dist-info"
    for old in site.glob(f"{name}-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "top_level.txt").write_text(name + "\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n")
    package = site / name
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("VALUE = 1\n")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A folder of installed distributions on sys.path, as a virtualenv's site-packages is."""
    folder = tmp_path / "venv" / "lib" / "site-packages"  # where libraries live, not project code
    folder.mkdir(parents=True)
    sys.path.insert(0, str(folder))
    _clear()
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.startswith("labtoy")]:
            del sys.modules[name]
        _clear()


def test_the_closure_follows_requirements_and_skips_the_rest(site: Path) -> None:
    _write_distribution(site, "labtoy_core", "1.0")
    _write_distribution(site, "labtoy_app", "2.0", ("labtoy_core>=1", "labtoy_extra; extra == 'x'"))
    _write_distribution(site, "labtoy_other", "3.0")
    _clear()
    closure = distribution_closure(frozenset({"labtoy_app", "json"}))
    assert closure == {"labtoy-app": "2.0", "labtoy-core": "1.0"}


def test_installing_an_unrelated_package_keeps_the_key_and_an_upgrade_changes_it(
    site: Path,
) -> None:
    _write_distribution(site, "labtoy_core", "1.0")
    _clear()
    import labtoy_core

    def uses_toy() -> int:
        return int(labtoy_core.VALUE)

    libraries = fingerprint_step(uses_toy).libraries
    assert "labtoy_core" in libraries
    before = step_environment(libraries)
    assert before.packages == {"labtoy-core": "1.0"}
    _write_distribution(site, "labtoy_unrelated", "9.9")
    _clear()
    assert step_environment(libraries).digest == before.digest
    _write_distribution(site, "labtoy_core", "1.1")
    _clear()
    assert step_environment(libraries).packages == {"labtoy-core": "1.1"}
    assert step_environment(libraries).digest != before.digest


def test_a_step_using_only_the_standard_library_depends_on_python_and_platform_alone() -> None:
    import json

    def stdlib_only(text: str) -> object:
        return json.loads(text)

    found = step_environment(fingerprint_step(stdlib_only).libraries)
    assert found.packages == {}
    assert found.python.startswith(("CPython", "PyPy"))


def test_libraries_imported_inside_a_step_count(site: Path) -> None:
    _write_distribution(site, "labtoy_lazy", "0.1")
    _clear()

    def lazy() -> int:
        import labtoy_lazy

        return int(labtoy_lazy.VALUE)

    assert "labtoy_lazy" in fingerprint_step(lazy).libraries


def test_numpy_steps_depend_on_numpy() -> None:
    np = pytest.importorskip("numpy")

    def uses_numpy() -> object:
        return np.zeros(3)

    packages = step_environment(fingerprint_step(uses_numpy).libraries).packages
    assert "numpy" in packages
    assert "hypothesis" not in packages


def test_a_step_receiving_a_dataframe_depends_on_pandas_and_pyarrow(
    workspace: Workspace,
) -> None:
    import json

    import sqlalchemy as sa

    from labledger.pipelines.step_environment import input_modules
    from labledger.workspace import schema
    from tests.unit.pipelines import file_pipelines as fp

    pytest.importorskip("pandas")
    assert {"pandas", "pyarrow"} <= input_modules(frozenset({"pandas"}))
    assert fingerprint_step(fp.frame_total.func).libraries == frozenset()
    result = fp.frames.run(workspace=workspace)
    with workspace.read() as conn:
        digest = conn.execute(
            sa.select(schema.pipeline_runs.c.facts_digest).where(
                schema.pipeline_runs.c.run_id == result.run_id
            )
        ).scalar_one()
    with workspace.store.open(digest) as handle:
        facts = json.loads(handle.read())
    packages = facts["steps"]["tests.unit.pipelines.file_pipelines:frame_total"]["environment"][
        "packages"
    ]
    assert {"pandas", "pyarrow", "numpy"} <= set(packages)
    assert fp.frames.run(workspace=workspace).executed == []
