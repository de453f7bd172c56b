"""``@step``: a plain Python function whose outputs labledger caches by content and traces.

Inside a ``@pipeline`` body, calling a step adds a task to the graph and returns a lazy handle (or
one handle per named output). Anywhere else a step is the plain function it decorates, so it can be
unit-tested directly.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import inspect
from typing import TYPE_CHECKING, Any, overload

from labledger._foundation.canonical import canonical_text
from labledger._foundation.errors import PipelineDefinitionError
from labledger.pipelines.graph import Handle, Outputs
from labledger.pipelines.resources import Resources

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence

    from labledger.pipelines.file_inputs import FileInput
    from labledger.pipelines.fingerprint import Fingerprint
    from labledger.pipelines.graph import Graph

__all__ = ["Step", "current_graph", "step"]

DEFAULT_OUTPUT = "out"

_tracing: contextvars.ContextVar[Graph | None] = contextvars.ContextVar(
    "labledger_tracing", default=None
)


def current_graph() -> contextvars.ContextVar[Graph | None]:
    """The context variable holding the graph a pipeline body is building (``None`` outside)."""
    return _tracing


def _seconds(expiry: float | dt.timedelta | None) -> float | None:
    if expiry is None:
        return None
    seconds = expiry.total_seconds() if isinstance(expiry, dt.timedelta) else float(expiry)
    if seconds <= 0:
        raise PipelineDefinitionError(f"cache_expiry={expiry!r} must be positive")
    return seconds


class Step:
    """A step: the decorated function plus how labledger runs and caches it.

    Attributes:
        func: The function itself.
        name: The step's name (the function's name unless given).
        outputs: Names of the outputs; one output is called ``out``.
        cache: Whether results may be reused from earlier runs.
        retries: How many times a failing call is retried.
        resources: What one task needs.
        deterministic: Whether equal inputs give equal output bytes (``reproduce`` checks it).
        trusted: Whether outputs without a safe format may be pickled, and pickled inputs loaded.
        cache_expiry: Seconds after which a cached result is recomputed.
        reads: Files and folders the step opens by name: part of its cache key by content.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        resources: Resources | None = None,
        deterministic: bool = True,
        outputs: Sequence[str] | None = None,
        trusted: bool = False,
        cache_expiry: float | dt.timedelta | None = None,
        reads: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    ) -> None:
        from labledger.pipelines.file_inputs import declared_reads

        if not callable(func):
            raise PipelineDefinitionError(f"@step needs a function, got {func!r}")
        if not isinstance(retries, int) or retries < 0:
            raise PipelineDefinitionError(f"retries={retries!r} must be a whole number >= 0")
        names = tuple(outputs) if outputs is not None else (DEFAULT_OUTPUT,)
        if (
            not names
            or len(set(names)) != len(names)
            or not all(isinstance(n, str) and n.isidentifier() for n in names)
        ):
            raise PipelineDefinitionError(
                f"outputs={outputs!r} must be distinct identifiers",
                hint='e.g. outputs=("train", "test")',
            )
        self.func = func
        self.name: str = name or str(getattr(func, "__name__", "step"))
        self.cache = cache
        self.retries = retries
        self.resources = resources or Resources()
        self.deterministic = deterministic
        self.outputs = names
        self.trusted = trusted
        self.cache_expiry = _seconds(cache_expiry)
        self.reads = declared_reads(reads)
        self.signature = inspect.signature(func)
        self._fingerprint: Fingerprint | None = None
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<Step {self.name}>"

    @functools.cached_property
    def qualname(self) -> str:
        """``module:qualname``; a step of a script run as ``python study.py`` is ``study:...``
        (the name its code snapshot keeps it under), not ``__main__:...``."""
        module = self.func.__module__
        if module == "__main__":
            from labledger.pipelines.snapshot import main_module_name

            module = main_module_name() or module
        return f"{module}:{self.func.__qualname__}"

    @functools.cached_property
    def all_reads(self) -> tuple[FileInput, ...]:
        """``reads`` and the ``File``/``Folder`` constants the step's code uses."""
        from labledger.pipelines.file_inputs import declared_reads

        found = declared_reads(self.fingerprint.files)
        declared = {item.path for item in self.reads}
        return (*self.reads, *(item for item in found if item.path not in declared))

    @property
    def fingerprint(self) -> Fingerprint:
        """The fingerprint of the step's code (computed once per process)."""
        if self._fingerprint is None:
            from labledger.pipelines.fingerprint import fingerprint_step

            self._fingerprint = fingerprint_step(self.func)
        return self._fingerprint

    @functools.cached_property
    def options_json(self) -> str:
        """``options`` as canonical JSON, as each task row stores it."""
        return canonical_text(self.options)

    @property
    def options(self) -> dict[str, Any]:
        """The options as recorded on each task."""
        return {
            "cache": self.cache,
            "retries": self.retries,
            "deterministic": self.deterministic,
            "trusted": self.trusted,
            "cache_expiry": self.cache_expiry,
            "resources": self.resources.as_dict(),
            "outputs": list(self.outputs),
            "reads": [item.path for item in self.reads],
        }

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults applied; clear errors when they do not fit."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineDefinitionError(
                f"cannot call step {self.name!r}: {exc}",
                hint=f"its parameters are ({', '.join(self.signature.parameters)})",
            ) from exc
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"step {self.name!r} takes *{param.name}; steps need named parameters",
                    hint="list the parameters explicitly",
                )
        return arguments

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = _tracing.get()
        if graph is None:
            for value in (*args, *kwargs.values()):
                if isinstance(value, Handle):
                    raise PipelineDefinitionError(
                        f"step {self.name!r} was called outside a pipeline with the lazy output "
                        f"of step {value.node.key!r}",
                        hint="call steps on step outputs inside a @pipeline body, or pass real values",
                    )
            return self.func(*args, **kwargs)
        node = graph.add(self, self.bind(args, kwargs))
        if len(self.outputs) == 1:
            return node.handles[0]
        return Outputs(node.handles)


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    resources: Resources | None = None,
    deterministic: bool = True,
    outputs: Sequence[str] | None = None,
    trusted: bool = False,
    cache_expiry: float | dt.timedelta | None = None,
    reads: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    resources: Resources | None = None,
    deterministic: bool = True,
    outputs: Sequence[str] | None = None,
    trusted: bool = False,
    cache_expiry: float | dt.timedelta | None = None,
    reads: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step; use as ``@step`` or ``@step(retries=2, ...)``.

    Args:
        func: The function (when used without parentheses).
        name: The step's name; defaults to the function's.
        cache: Reuse results from earlier runs with the same cache key.
        retries: Retry a failing call this many times.
        resources: CPUs, memory and GPUs one call needs (executors schedule by them).
        deterministic: Equal inputs give equal output bytes; ``reproduce`` expects matching digests.
        outputs: Names of several outputs; the function then returns a tuple or dict of them.
        trusted: Allow pickling outputs that have no safe format, and loading pickled inputs
            and models holding types outside the skops allow-list.
        cache_expiry: Recompute when the cached result is older than this (seconds or timedelta).
        reads: Files and folders the step opens by name in its code (paths, or ``File``/``Folder``
            for a kind or ``store=False``); their bytes become part of its cache key. Paths
            passed as arguments need no declaration (see ``labledger.File``).
    """

    def wrap(function: Callable[..., Any]) -> Step:
        return Step(
            function,
            name=name,
            cache=cache,
            retries=retries,
            resources=resources,
            deterministic=deterministic,
            outputs=outputs,
            trusted=trusted,
            cache_expiry=cache_expiry,
            reads=reads,
        )

    return wrap(func) if func is not None else wrap
