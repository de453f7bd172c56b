"""The task graph a pipeline body builds: nodes (step calls), lazy handles to their outputs, edges.

Calling a step inside a pipeline does not run it: it adds a ``Node`` and returns a ``Handle`` per
output. Arguments are either literal params (JSON-able values, part of the cache key) or handles,
alone or inside a list, tuple or dict, which become the node's inputs (the lineage edges).
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from labledger._foundation.canonical import canonical_text
from labledger._foundation.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.pipelines.file_inputs import FileInput
    from labledger.pipelines.steps import Step

__all__ = ["Arg", "Graph", "Handle", "Node", "Outputs"]


class Handle:
    """A lazy reference to one output of a node: pass it to other steps, nothing else."""

    __slots__ = ("node", "output")

    def __init__(self, node: Node, output: str) -> None:
        self.node = node
        self.output = output

    @property
    def ref(self) -> str:
        """``node`` for a single output, ``node.output`` otherwise."""
        return (
            self.node.key if len(self.node.step.outputs) == 1 else f"{self.node.key}.{self.output}"
        )

    def __repr__(self) -> str:
        return f"<Handle {self.ref}>"

    def _misuse(self, what: str) -> NoReturn:
        raise PipelineDefinitionError(
            f"{what} the output of step {self.node.key!r}, which is not computed while the "
            "pipeline is being built",
            hint="pass it to another step and do the work inside that step",
        )

    def __bool__(self) -> bool:  # noqa: PLE0304 - it never returns: a handle has no truth value
        self._misuse("cannot test")

    def __iter__(self) -> Iterator[Any]:
        self._misuse("cannot iterate over")

    def __len__(self) -> int:  # noqa: PLE0303 - it never returns: a handle has no length
        self._misuse("cannot take the length of")

    def __getitem__(self, key: Any) -> Any:
        self._misuse("cannot index")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._misuse(f"cannot read attribute {name!r} of")

    def __reduce__(self) -> NoReturn:
        self._misuse("cannot pickle")


class Outputs(tuple[Handle, ...]):
    """The handles of a step with several named outputs: unpack them or read them by name."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Handle:
        for handle in self:
            if handle.output == name:
                return handle
        raise AttributeError(f"step has no output named {name!r}")


@dataclass(frozen=True, slots=True)
class Arg:
    """How one argument of a node is made: a literal, one input, or a container of inputs.

    ``shape`` is ``"literal"`` (``value`` holds it), ``"input"`` (``inputs[0]`` names the input),
    ``"list"``, ``"tuple"`` (``inputs`` in order) or ``"dict"`` (``keys`` pair with ``inputs``).
    """

    shape: str
    value: Any = None
    inputs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass(eq=False, slots=True)
class Node:
    """One call of a step in a pipeline: a task once the pipeline runs."""

    key: str
    step: Step
    args: dict[str, Arg]
    inputs: dict[str, Handle]
    handles: tuple[Handle, ...] = ()
    params_json: str = "{}"
    files: tuple[FileInput, ...] = ()  # files and folders it reads: inputs by content

    @property
    def params(self) -> dict[str, Any]:
        """The literal arguments: they enter the cache key as they are."""
        return {name: arg.value for name, arg in self.args.items() if arg.shape == "literal"}

    @property
    def upstream(self) -> set[Node]:
        return {handle.node for handle in self.inputs.values()}


def _literal(value: Any, where: str) -> Any:
    """``value`` as canonical-JSON-able data; paths become strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [_literal(item, where) for item in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _literal(v, where) for k, v in value.items()}
    raise PipelineDefinitionError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}; literal step "
        "arguments must be JSON-able (numbers, strings, lists, dicts) or paths",
        hint="produce the value in a step and pass its output, or pass something JSON-able",
    )


@dataclass(slots=True)
class Graph:
    """Nodes in the order they were added, which is a topological order when built by tracing."""

    name: str = "pipeline"
    nodes: list[Node] = field(default_factory=list)
    _keys: dict[str, Node] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, key: str) -> Node:
        return self._keys[key]

    def _new_key(self, name: str) -> str:
        if name not in self._keys:
            return name
        n = self._counts.get(name, 1) + 1
        while f"{name}_{n}" in self._keys:
            n += 1
        self._counts[name] = n
        return f"{name}_{n}"

    def add(self, step: Step, arguments: dict[str, Any]) -> Node:
        """Add a call of ``step`` with bound ``arguments`` (name -> value or handle)."""
        from labledger.pipelines.file_inputs import find_file_inputs

        key = self._new_key(step.name)
        args: dict[str, Arg] = {}
        inputs: dict[str, Handle] = {}
        files: list[FileInput] = []

        def take(input_name: str, handle: Handle) -> str:
            if handle.node is not self._keys.get(handle.node.key):
                raise PipelineDefinitionError(
                    f"argument {input_name!r} of step {key!r} is an output of another pipeline",
                    hint="a handle is only valid inside the pipeline body that made it",
                )
            inputs[input_name] = handle
            return input_name

        for name, value in arguments.items():
            where = f"argument {name!r} of step {key!r}"
            if isinstance(value, Handle):
                args[name] = Arg("input", inputs=(take(name, value),))
            elif isinstance(value, list | tuple) and any(isinstance(v, Handle) for v in value):
                if not all(isinstance(v, Handle) for v in value):
                    raise PipelineDefinitionError(
                        f"{where} mixes step outputs and literal values",
                        hint="pass a list of step outputs only, and literals as other arguments",
                    )
                names = tuple(take(f"{name}.{i}", v) for i, v in enumerate(value))
                args[name] = Arg("list" if isinstance(value, list) else "tuple", inputs=names)
            elif isinstance(value, dict) and any(isinstance(v, Handle) for v in value.values()):
                if not all(isinstance(v, Handle) and isinstance(k, str) for k, v in value.items()):
                    raise PipelineDefinitionError(
                        f"{where} mixes step outputs and literal values",
                        hint="pass a dict of step outputs only, keyed by strings",
                    )
                keys = tuple(value)
                names = tuple(take(f"{name}.{k}", value[k]) for k in keys)
                args[name] = Arg("dict", inputs=names, keys=keys)
            else:
                files += find_file_inputs(step, name, value)
                args[name] = Arg("literal", value=_literal(value, where))
        node = Node(key=key, step=step, args=args, inputs=inputs, files=(*files, *step.all_reads))
        # Once here, not on every run: the canonical text enters the cache key and the task row.
        node.params_json = canonical_text(node.params)
        node.handles = tuple(Handle(node, output) for output in step.outputs)
        self.nodes.append(node)
        self._keys[key] = node
        return node

    def topological_order(self) -> list[Node]:
        """The nodes, each after all of its inputs; raises on a cycle."""
        downstream: dict[Node, list[Node]] = {node: [] for node in self.nodes}
        pending = {node: 0 for node in self.nodes}
        for node in self.nodes:
            for parent in node.upstream:
                if parent not in downstream:
                    raise PipelineDefinitionError(
                        f"step {node.key!r} reads {parent.key!r}, which is not in this graph"
                    )
                downstream[parent].append(node)
                pending[node] += 1
        ready = deque(node for node in self.nodes if pending[node] == 0)
        order: list[Node] = []
        while ready:
            node = ready.popleft()
            order.append(node)
            for child in downstream[node]:
                pending[child] -= 1
                if pending[child] == 0:
                    ready.append(child)
        if len(order) != len(self.nodes):
            stuck = sorted(node.key for node in self.nodes if pending[node] > 0)
            raise PipelineDefinitionError(
                f"the pipeline has a cycle through steps {', '.join(stuck[:10])}",
                hint="a step cannot depend, directly or not, on its own output",
            )
        return order
