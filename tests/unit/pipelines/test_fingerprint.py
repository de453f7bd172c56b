"""Step fingerprints change exactly when the code a step runs changes."""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import subprocess
import sys
import textwrap
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labledger._foundation.errors import ValidationError
from labledger.pipelines.fingerprint import Fingerprint, fingerprint_step, normalised_source
from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

DEEP = """
SCALE = 2


def core(x):
    return x * SCALE


def unused(x):
    return x - 1
"""

HELPERS = """
from . import deep

OFFSET = 1
ROUNDING = 2


def clean(x):
    return deep.core(x) + 1


class Scaler:
    def __init__(self, factor):
        self.factor = factor

    def apply(self, x):
        return round(x * self.factor, ROUNDING)
"""

STEPS = """
import json

from . import helpers
from .helpers import Scaler

LIMIT = 10


def step(**options):
    return lambda func: func


def unused(x):
    return x + 100


@step(retries=3)
def compute(x, offset=helpers.OFFSET):
    \"\"\"Compute a thing.\"\"\"
    value = helpers.clean(x) + offset
    return json.dumps(Scaler(LIMIT).apply(value))
"""


class Project:
    """A package of helper modules in a temporary folder, re-imported after each rewrite."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # A fresh package name per test: nothing imported by another test can be picked up.
        self.package = f"fp_{uuid.uuid4().hex[:12]}"
        self.folder = root / self.package
        self.folder.mkdir()
        (self.folder / "__init__.py").write_text("")

    def write(self, name: str, source: str) -> None:
        (self.folder / f"{name}.py").write_text(textwrap.dedent(source))

    def write_base(self) -> None:
        self.write("deep", DEEP)
        self.write("helpers", HELPERS)
        self.write("steps", STEPS)

    def load(self, name: str = "steps") -> ModuleType:
        self.unload()
        importlib.invalidate_caches()
        spec = importlib.util.spec_from_file_location(
            self.package,
            self.folder / "__init__.py",
            submodule_search_locations=[str(self.folder)],
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[self.package] = package
        spec.loader.exec_module(package)
        return importlib.import_module(f"{self.package}.{name}")

    def unload(self) -> None:
        for name in [n for n in sys.modules if n.split(".")[0] == self.package]:
            del sys.modules[name]

    def fingerprint(self, attr: str = "compute", module: str = "steps") -> Fingerprint:
        return fingerprint_step(getattr(self.load(module), attr), project_root=self.root)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    # Rewritten modules must be recompiled, never read back from a .pyc of the same second.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    made = Project(tmp_path)
    yield made
    made.unload()


def test_a_fingerprint_names_the_project_code_it_covers(project: Project) -> None:
    project.write_base()
    fp = project.fingerprint()
    pkg = project.package
    assert fp.digest.startswith("blake3:") and len(fp.digest) == 7 + 64
    assert fp.code_captured
    assert fp.parts == tuple(
        sorted(
            [
                f"{pkg}.steps:compute",
                f"{pkg}.steps:LIMIT",
                f"{pkg}.helpers:clean",
                f"{pkg}.helpers:Scaler",
                f"{pkg}.helpers:ROUNDING",
                f"{pkg}.deep:core",
                f"{pkg}.deep:SCALE",
            ]
        )
    )
    assert fp.sources == {str(project.folder / f"{m}.py") for m in ("steps", "helpers", "deep")}


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        (
            "steps",
            "    value = helpers",
            "    # why: the offset is applied after cleaning\n    value = helpers",
        ),
        ("steps", "\n\n@step", "\n\n\n\n@step"),
        ("steps", '"""Compute a thing."""', '"""Compute another thing, documented better."""'),
        ("steps", '    """Compute a thing."""\n', ""),
        (
            "steps",
            "helpers.clean(x) + offset",
            "(\n        helpers.clean( x )\n        + offset\n    )",
        ),
        ("steps", "@step(retries=3)", "@step(retries=5, cache=False)"),
        ("steps", "@step(retries=3)\n", ""),
        ("steps", "def unused(x):\n    return x + 100", "def unused(x):\n    return x + 200"),
        ("deep", "def unused(x):\n    return x - 1", "def unused(x):\n    return x - 2"),
        ("deep", "def core(x):", '# note\ndef core(x):\n    """Multiply."""'),
        ("helpers", "class Scaler:", 'class Scaler:\n    """Scales."""'),
    ],
    ids=[
        "comment",
        "blank-lines",
        "docstring-edit",
        "docstring-removed",
        "formatting",
        "decorator-options",
        "decorator-removed",
        "unused-function-same-module",
        "unused-function-helper-module",
        "helper-comment-and-docstring",
        "class-docstring",
    ],
)
def test_cosmetic_changes_keep_the_digest(
    project: Project, module: str, old: str, new: str
) -> None:
    project.write_base()
    before = project.fingerprint()
    source = {"steps": STEPS, "helpers": HELPERS, "deep": DEEP}[module]
    assert old in source
    project.write(module, source.replace(old, new))
    assert project.fingerprint().digest == before.digest


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("steps", "helpers.clean(x) + offset", "helpers.clean(x) - offset"),
        ("helpers", "OFFSET = 1", "OFFSET = 2"),
        ("steps", "LIMIT = 10", "LIMIT = 11"),
        ("helpers", "deep.core(x) + 1", "deep.core(x) + 2"),
        ("helpers", "x * self.factor", "x / self.factor"),
        ("helpers", "ROUNDING = 2", "ROUNDING = 3"),
        ("helpers", "self.factor = factor", "self.factor = -factor"),
        ("deep", "return x * SCALE", "return x ** SCALE"),
        ("deep", "SCALE = 2", "SCALE = 3"),
        ("deep", "SCALE = 2", "SCALE = 2.0"),
    ],
    ids=[
        "step-body",
        "default-argument",
        "module-constant",
        "helper-one-level-down",
        "class-method-used",
        "constant-read-by-a-method",
        "class-init",
        "helper-two-levels-down",
        "constant-two-levels-down",
        "constant-type",
    ],
)
def test_code_changes_change_the_digest(project: Project, module: str, old: str, new: str) -> None:
    project.write_base()
    before = project.fingerprint()
    source = {"steps": STEPS, "helpers": HELPERS, "deep": DEEP}[module]
    assert old in source
    project.write(module, source.replace(old, new))
    assert project.fingerprint().digest != before.digest


def test_library_code_is_named_not_followed(project: Project) -> None:
    np = pytest.importorskip("numpy")
    project.write(
        "steps",
        """
        import json
        import numpy as np
        from numpy import median

        def compute(xs):
            return json.dumps(float(np.mean(xs)) + float(median(xs)))
        """,
    )
    fp = project.fingerprint()
    assert fp.parts == (f"{project.package}.steps:compute",)
    assert fp.sources == {str(project.folder / "steps.py")}
    assert np.mean.__module__.startswith("numpy")
    # Swapping the library function bound to a name still counts.
    project.write(
        "steps", "from numpy import mean as median\ndef compute(xs):\n    return median(xs)"
    )
    swapped = project.fingerprint()
    project.write("steps", "from numpy import median\ndef compute(xs):\n    return median(xs)")
    assert swapped.digest != project.fingerprint().digest


def test_without_a_project_root_everything_outside_the_libraries_is_project_code(
    project: Project,
) -> None:
    project.write_base()
    module = project.load()
    fp = fingerprint_step(module.compute)
    assert f"{project.package}.deep:core" in fp.parts
    assert not any(part.startswith("json") for part in fp.parts)


def test_with_a_project_root_code_outside_it_is_named_not_followed(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendored = project.root / "vendored"
    vendored.mkdir()
    name = f"vend_{project.package}"
    monkeypatch.syspath_prepend(str(vendored))
    project.write("steps", f"import {name}\ndef compute(x):\n    return {name}.clean(x)\n")
    digests = []
    for body in ("x", "x + 1"):
        (vendored / f"{name}.py").write_text(f"def clean(x):\n    return {body}\n")
        sys.modules.pop(name, None)
        module = project.load()
        inside = fingerprint_step(module.compute, project_root=project.folder)
        assert inside.parts == (f"{project.package}.steps:compute",)
        digests.append((inside.digest, fingerprint_step(module.compute).digest))
    sys.modules.pop(name, None)
    assert digests[0][0] == digests[1][0]  # outside the root: only the name counts
    assert digests[0][1] != digests[1][1]  # without a root it is project code


def test_mutual_and_self_recursion_terminate(project: Project) -> None:
    project.write(
        "steps",
        """
        from . import steps as me

        def even(n):
            return True if n == 0 else odd(n - 1)

        def odd(n):
            return False if n == 0 else me.even(n - 1)

        def compute(n):
            return compute(n - 1) if n else even(n)
        """,
    )
    fp = project.fingerprint()
    assert {p.rsplit(":", 1)[1] for p in fp.parts} == {"compute", "even", "odd"}
    project.write(
        "steps",
        """
        from . import steps as me

        def even(n):
            return True if n == 0 else odd(n - 1)

        def odd(n):
            return True if n == 0 else me.even(n - 1)

        def compute(n):
            return compute(n - 1) if n else even(n)
        """,
    )
    assert project.fingerprint().digest != fp.digest


def test_code_inside_lambdas_comprehensions_and_inner_functions_is_followed(
    project: Project,
) -> None:
    steps = """
    from . import helpers

    def compute(xs):
        def inner(v):
            return sorted(v, key=lambda item: helpers.clean(item))
        return [inner(x) for x in xs]
    """
    project.write_base()
    project.write("steps", steps)
    before = project.fingerprint()
    assert f"{project.package}.deep:core" in before.parts
    project.write("deep", DEEP.replace("x * SCALE", "x - SCALE"))
    assert project.fingerprint().digest != before.digest


def test_imports_inside_the_step_are_followed(project: Project) -> None:
    project.write_base()
    project.write(
        "steps",
        """
        def compute(x):
            from . import helpers
            from .deep import core as fast_core
            import json
            return json.dumps(helpers.clean(x) + fast_core(x))
        """,
    )
    before = project.fingerprint()
    assert f"{project.package}.helpers:clean" in before.parts
    project.write("deep", DEEP.replace("SCALE = 2", "SCALE = 5"))
    assert project.fingerprint().digest != before.digest


def test_closures_partials_and_wrappers(project: Project) -> None:
    project.write(
        "steps",
        """
        import functools

        def make(k):
            def scaled(x):
                return x * k
            return scaled

        def timed(func):
            @functools.wraps(func)
            def wrapper(*args):
                return func(*args)
            return wrapper

        @timed
        def wrapped(x):
            return x + 1

        def add(a, b):
            return a + b
        """,
    )
    module = project.load()
    root = project.root

    def digest(func: Any) -> str:
        return fingerprint_step(func, project_root=root).digest

    assert digest(module.make(2)) == digest(module.make(2))
    assert digest(module.make(2)) != digest(module.make(3))
    assert digest(functools.partial(module.add, 1)) != digest(functools.partial(module.add, 2))
    wrapped = fingerprint_step(module.wrapped, project_root=root)
    assert f"{project.package}.steps:timed.<locals>.wrapper" in wrapped.parts
    source = (project.folder / "steps.py").read_text()
    project.write("steps", source.replace("return x + 1", "return x + 2"))
    assert digest(project.load().wrapped) != wrapped.digest


def test_methods_include_their_whole_class(project: Project) -> None:
    source = """
    class Model:
        def __init__(self, rate):
            self.rate = rate

        def __repr__(self):
            return f"Model(rate={self.rate})"

        def fit(self, x):
            return self._scale(x)

        def _scale(self, x):
            return x * self.rate

        @staticmethod
        def prepare(x):
            return x + 1
    """
    project.write("steps", source)
    module = project.load()
    bound = fingerprint_step(module.Model(0.5).fit, project_root=project.root)
    static = fingerprint_step(module.Model.prepare, project_root=project.root)
    assert f"{project.package}.steps:Model" in bound.parts and static.code_captured
    assert bound.digest != fingerprint_step(module.Model(0.7).fit, project_root=project.root).digest
    project.write("steps", source.replace("x * self.rate", "x + self.rate"))
    module = project.load()
    assert fingerprint_step(module.Model(0.5).fit, project_root=project.root).digest != bound.digest
    assert fingerprint_step(module.Model.prepare, project_root=project.root).digest != static.digest


def test_module_objects_count_by_deterministic_repr_else_by_type(project: Project) -> None:
    source = """
    import re
    from collections import namedtuple
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Config:
        rate: float

    Point = namedtuple("Point", "x y")
    PATTERN = re.compile(r"[a-z]+", re.IGNORECASE)
    CONFIG = Config(rate=0.5)
    SENTINEL = object()

    def compute(text):
        return PATTERN.findall(text), CONFIG.rate, SENTINEL, Point(1, 2)
    """
    project.write("steps", source)
    before = project.fingerprint()
    assert before.code_captured  # generated methods (dataclass, namedtuple) need no source
    assert project.fingerprint().digest == before.digest  # object() reprs differ, its type doesn't
    changes = [
        ("[a-z]+", "[a-z]*"),
        ("re.IGNORECASE", "0"),
        ("rate=0.5", "rate=0.6"),
        ("x y", "x z"),
    ]
    for old, new in changes:
        project.write("steps", source.replace(old, new))
        assert project.fingerprint().digest != before.digest, old


def test_a_step_reached_from_a_pipeline_counts_without_its_decorators(project: Project) -> None:
    source = """
    from labledger.pipelines import pipeline, step

    @step(retries=1)
    def double(x: int) -> int:
        return x * 2

    @pipeline
    def compute(x: int) -> None:
        double(x)
    """
    project.write("steps", source)
    module = project.load()
    before = fingerprint_step(module.compute.func, project_root=project.root)
    assert f"{project.package}.steps:double" in before.parts
    project.write("steps", source.replace("retries=1", "retries=4"))
    module = project.load()
    assert fingerprint_step(module.compute.func, project_root=project.root) == before
    project.write("steps", source.replace("x * 2", "x * 3"))
    module = project.load()
    assert fingerprint_step(module.compute.func, project_root=project.root) != before


def test_rebinding_a_helper_at_run_time_is_seen(project: Project) -> None:
    project.write_base()
    module = project.load()
    helpers = sys.modules[f"{project.package}.helpers"]
    before = fingerprint_step(module.compute, project_root=project.root)
    helpers.clean = helpers.Scaler  # type: ignore[attr-defined]
    assert fingerprint_step(module.compute, project_root=project.root).digest != before.digest


def test_a_lambda_from_exec_is_fingerprinted_by_its_code_object() -> None:
    def made(body: str) -> Any:
        namespace: dict[str, Any] = {}
        exec(f"f = lambda x: {body}", namespace)
        return namespace["f"]

    fp = fingerprint_step(made("x + 1"))
    assert not fp.code_captured
    assert fp.sources == frozenset()
    assert fingerprint_step(made("x + 1")).digest == fp.digest
    assert fingerprint_step(made("x + 2")).digest != fp.digest
    with pytest.raises(ValidationError, match="cannot be read"):
        normalised_source(made("x + 1"))


def test_normalised_source_leaves_out_docstrings_and_decorators(project: Project) -> None:
    project.write_base()
    text = normalised_source(project.load().compute)
    assert "Compute a thing" not in text
    assert "retries" not in text
    assert "offset" in text and "lineno" not in text


def test_the_digest_is_the_same_in_a_fresh_interpreter(project: Project) -> None:
    project.write_base()
    here = project.fingerprint()
    code = (
        "import sys; from pathlib import Path; "
        "from labledger.pipelines.fingerprint import fingerprint_step; "
        f"import {project.package}.steps as m; "
        "print(fingerprint_step(m.compute, project_root=Path(sys.argv[1])).digest)"
    )
    env = subprocess_env(project.root, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-B", "-c", code, str(project.root)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert out.stdout.strip() == here.digest


def test_a_non_callable_is_refused() -> None:
    with pytest.raises(ValidationError, match="not callable"):
        fingerprint_step(42)  # type: ignore[arg-type]


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=5)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=3) | st.integers(), children, max_size=3)
    ),
    max_leaves=8,
)


def _strict(value: Any) -> Any:
    """Equality that also tells 1 from 1.0 from True, and 0.0 from -0.0."""
    if isinstance(value, dict):
        return ("dict", tuple((_strict(k), _strict(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_strict(v) for v in value))
    return (type(value).__name__, repr(value))


def _reader(value: Any) -> Any:
    namespace: dict[str, Any] = {"__name__": "fp_property", "VALUE": value}
    exec("def step():\n    return VALUE\n", namespace)
    return namespace["step"]


@settings(max_examples=200, deadline=None)
@given(values, values, st.booleans())
def test_a_constant_changes_the_digest_exactly_when_its_value_changes(
    first: Any, second: Any, same: bool
) -> None:
    if same:
        second = copy.deepcopy(first)
    equal = fingerprint_step(_reader(first)).digest == fingerprint_step(_reader(second)).digest
    assert equal == (_strict(first) == _strict(second))
