"""The environment a step's result depends on: Python, the platform, and the packages it uses.

A step's environment fingerprint covers the interpreter (implementation and version), the operating
system and machine, and the version of every installed distribution the step's code can reach: the
distributions providing the library modules it uses (``Fingerprint.libraries``) and those behind
the values it receives from other steps (a DataFrame: pandas and pyarrow, ``input_modules``), and
everything those require, transitively. Installing or upgrading an unrelated package changes no step's key;
upgrading pandas changes the keys of the steps that use pandas (or a library built on it).

The standard library is covered by the Python version; labledger itself by the cache's salt.
"""

from __future__ import annotations

import functools
import platform
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata

from labledger._foundation.digests import digest_record
from labledger._foundation.errors import LabledgerError
from labledger.tracking.environment import installed_distributions

__all__ = ["StepEnvironment", "distribution_closure", "input_modules", "step_environment"]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_SKIP = frozenset({"labledger", "__main__", "builtins", "__future__"})


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class StepEnvironment:
    """What a step's environment fingerprint covers.

    Attributes:
        digest: The fingerprint, part of the step's cache key.
        python: ``CPython 3.11.7``.
        platform: ``Linux x86_64``.
        packages: Distribution name -> version, for every distribution the step can reach.
    """

    digest: str
    python: str
    platform: str
    packages: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"python": self.python, "platform": self.platform, "packages": self.packages}


@functools.cache
def _installed() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Normalised distribution name -> (version, names of what it requires unconditionally)."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for dist in installed_distributions():
        requires: list[str] = []
        for requirement in dist.requires:
            # Requirements of extras are optional: only what is installed counts anyway, and an
            # extra the step needs is named by the modules it uses.
            if "extra" in requirement.partition(";")[2]:
                continue
            match = _NAME.match(requirement)
            if match:
                requires.append(_normal(match.group(1)))
        found.setdefault(_normal(dist.name), (dist.version, tuple(requires)))
    return found


@functools.cache
def _module_owners() -> dict[str, tuple[str, ...]]:
    return {
        module: tuple(_normal(name) for name in names)
        for module, names in metadata.packages_distributions().items()
    }


def distribution_closure(modules: frozenset[str]) -> dict[str, str]:
    """Distribution name -> version for the distributions providing ``modules``, transitively.

    Args:
        modules: Top-level module names (``sklearn``); standard library and unknown ones are
            skipped.
    """
    pending: list[str] = []
    for module in modules:
        if module in _SKIP or module in sys.stdlib_module_names:
            continue
        # Which distribution owns which module is read (from every distribution's file list) only
        # when a step uses a module outside the standard library.
        pending.extend(_module_owners().get(module, ()))
    installed = _installed() if pending else {}
    versions: dict[str, str] = {}
    while pending:
        name = pending.pop()
        if name in versions or name in _SKIP or name not in installed:
            continue
        version, requires = installed[name]
        versions[name] = version
        pending.extend(requires)
    return dict(sorted(versions.items()))


# Libraries a materializer reads its values back with, beyond the modules of the types it takes.
_READS_WITH = {"pandas": ("pyarrow",), "arrow": ("pyarrow",), "sklearn": ("skops",)}


@functools.cache
def input_modules(materializers: frozenset[str]) -> frozenset[str]:
    """Top-level modules behind values a step receives, by the materializers that stored them.

    A step that takes a DataFrame from another step and calls its methods uses pandas without
    naming it; its results depend on pandas' version (and on pyarrow's, which reads the table
    back) all the same.
    """
    from labledger.materializers.registry import get_materializer

    modules: set[str] = set()
    for name in materializers:
        try:
            found = get_materializer(name)
        except LabledgerError:
            continue
        modules.update(kind.partition(".")[0] for kind in found.types)
        modules.update(_READS_WITH.get(name, ()))
    modules.discard("builtins")
    modules.discard("pathlib")
    return frozenset(modules)


@functools.cache
def step_environment(modules: frozenset[str]) -> StepEnvironment:
    """The environment of a step whose code uses the library modules ``modules``."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    system = f"{platform.system()} {platform.machine()}"
    packages = distribution_closure(modules)
    digest = digest_record({"python": python, "platform": system, "packages": packages})
    return StepEnvironment(digest, python, system, packages)
