"""``@pipeline``: a function whose body calls steps; running it builds the graph, then executes it.

The body runs once per ``run`` with the pipeline's parameters bound to plain values, so ordinary
Python control flow (loops over a parameter list, ``if`` on a flag) shapes the graph. Step calls
inside it return lazy handles.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, overload

from labledger._foundation.errors import PipelineDefinitionError, ValidationError
from labledger.pipelines.graph import Graph, Handle, Outputs
from labledger.pipelines.steps import current_graph

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from labledger.pipelines.executor import Executor
    from labledger.pipelines.types import PipelineRun
    from labledger.workspace.workspace import Workspace

__all__ = ["RESERVED_PARAMS", "Pipeline", "pipeline"]

RESERVED_PARAMS = frozenset(
    {
        "executor",
        "cache",
        "workspace",
        "run_name",
        "tags",
        "seed",
        "progress",
        "echo",
        "reproduces",
        "project",
    }
)


class Pipeline:
    """A pipeline: its body, its typed parameters, and ``run``.

    Attributes:
        func: The body.
        name: The pipeline's name (the function's name unless given).
        ref: ``module:qualname``, or ``path.py:name`` when loaded from a file, to find it again.
    """

    def __init__(self, func: Callable[..., Any], *, name: str | None = None) -> None:
        self.func = func
        self.name = name or func.__name__
        self.ref = f"{func.__module__}:{func.__qualname__}"
        self.signature = inspect.signature(func)
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r} parameter {param.name!r} must be an ordinary named "
                    "parameter",
                    hint="give each parameter a name (and ideally a type and a default)",
                )
            if param.name in RESERVED_PARAMS:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r} parameter {param.name!r} clashes with an option of run()",
                    hint=f"rename it; reserved: {', '.join(sorted(RESERVED_PARAMS))}",
                )
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name}>"

    @functools.cached_property
    def _adapters(self) -> dict[str, Any]:
        import typing

        from pydantic import TypeAdapter

        try:
            # Resolves string annotations (``from __future__ import annotations``).
            hints = typing.get_type_hints(self.func)
        except Exception as exc:
            raise PipelineDefinitionError(
                f"cannot read the parameter types of pipeline {self.name!r}: {exc}",
                hint="import the types its annotations name at module level",
            ) from exc
        return {
            name: TypeAdapter(hints[name]) for name in self.signature.parameters if name in hints
        }

    def bind_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters with defaults filled in, each checked against its annotation.

        Raises:
            ValidationError: A parameter is unknown, missing or of the wrong type.
        """
        known = self.signature.parameters
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValidationError(
                f"pipeline {self.name!r} has no parameter {', '.join(map(repr, unknown))}",
                hint=f"its parameters: {', '.join(known) or '(none)'}",
            )
        bound: dict[str, Any] = {}
        for name, param in known.items():
            if name in params:
                value = params[name]
            elif param.default is not inspect.Parameter.empty:
                value = param.default
            else:
                raise ValidationError(
                    f"pipeline {self.name!r} needs parameter {name!r}",
                    hint=f"pass {name}=... (on the command line: -p {name}=...)",
                )
            bound[name] = self._check(name, value)
        return bound

    def parse_params(self, texts: Mapping[str, str]) -> dict[str, Any]:
        """Parameters given as text (``-p key=value`` on the command line), typed by annotation.

        Each text is first checked as it is (so ``"3"`` fits an ``int``), then as JSON (so
        ``[1, 2]`` fits a ``list[int]``).
        """
        import json

        parsed: dict[str, Any] = {}
        for name, text in texts.items():
            try:
                parsed[name] = self._check(name, text)
            except ValidationError as as_text:
                try:
                    value = json.loads(text)
                except ValueError:
                    raise as_text from None
                parsed[name] = self._check(name, value)
        return parsed

    def _check(self, name: str, value: Any) -> Any:
        adapter = self._adapters.get(name)
        if adapter is None:
            return value
        from pydantic import ValidationError as PydanticError

        try:
            return adapter.validate_python(value)
        except PydanticError as exc:
            annotation = self.signature.parameters[name].annotation
            wanted = (
                annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
            )
            raise ValidationError(
                f"pipeline parameter {name}={value!r} is not a valid {wanted}",
                hint=exc.errors()[0]["msg"] if exc.errors() else None,
            ) from None

    def trace(self, **params: Any) -> Graph:
        """Build the task graph for ``params`` without running anything."""
        bound = self.bind_params(params)
        graph = Graph(name=self.name)
        token = current_graph().set(graph)
        try:
            result = self.func(**bound)
        finally:
            current_graph().reset(token)
        if result is not None and not isinstance(result, Handle | Outputs | list | tuple | dict):
            raise PipelineDefinitionError(
                f"pipeline {self.name!r} returned a {type(result).__name__}",
                hint="return nothing, or step outputs",
            )
        if not graph.nodes:
            raise PipelineDefinitionError(
                f"pipeline {self.name!r} calls no steps", hint="call @step functions in its body"
            )
        graph.topological_order()
        return graph

    def run(
        self,
        *,
        executor: Executor | None = None,
        cache: bool = True,
        workspace: Workspace | None = None,
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
        seed: int = 0,
        progress: bool = False,
        echo: bool = False,
        project: str = "default",
        **params: Any,
    ) -> PipelineRun:
        """Run the pipeline with ``params`` and return the finished run.

        Args:
            executor: Where tasks run; defaults to ``LocalExecutor()`` (in-process).
            cache: ``False`` recomputes every step (results are still recorded for later runs).
            workspace: Defaults to the current workspace.
            run_name: A readable name for the run; defaults to the pipeline's name.
            tags: Tags for the run.
            seed: Seeds ``random``, NumPy and torch in each task (derived per task).
            progress: Show a live view of the tasks.
            echo: Show what steps print or log as they run, each line prefixed with the step's
                name (``[ingest] loaded 96 rows``): above the live view, or on stderr without
                one. Captured either way (``labledger runs logs``).
            **params: The pipeline's parameters.

        Raises:
            StepFailedError: A step failed; finished steps stay cached, so a re-run resumes.
        """
        from labledger.pipelines.runner import run_pipeline

        return run_pipeline(
            self,
            params,
            executor=executor,
            cache=cache,
            workspace=workspace,
            run_name=run_name,
            tags=tags,
            seed=seed,
            progress=progress,
            echo=echo,
            project=project,
        )

    def __call__(self, **params: Any) -> PipelineRun:
        return self.run(**params)


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline; use as ``@pipeline`` or ``@pipeline(name=...)``."""
    if func is not None:
        return Pipeline(func, name=name)
    return lambda function: Pipeline(function, name=name)
