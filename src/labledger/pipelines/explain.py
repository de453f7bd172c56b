"""``status``: which steps of a pipeline would come from the cache, and why the others would not.

Nothing runs and nothing is stored: the pipeline is traced, every file it reads is hashed (through
the stat cache), and each step's cache key is computed as ``run`` would and looked up. A step whose
key misses is compared with the newest earlier task of the same step in a run of the same pipeline:
which part of its code changed, which input file, which param, which package of its environment,
the seed, or that its cached outputs are gone or expired.

A step that reads the output of a step that will run is reported as running too: its input is not
known before then (it may still come from the cache, if that output comes out the same).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import LabledgerError
from labledger.materializers.paths import read_manifest
from labledger.pipelines.cache import CacheReader, cache_key
from labledger.pipelines.key_facts import key_facts_salt, step_facts
from labledger.pipelines.replay_target import replay_target
from labledger.pipelines.run_inputs import RunInputs
from labledger.pipelines.step_environment import input_modules, step_environment
from labledger.pipelines.task import task_seed
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.pipelines.definition import Pipeline
    from labledger.pipelines.graph import Node
    from labledger.workspace.workspace import Workspace

__all__ = ["PipelineStatus", "Reason", "StepStatus", "status"]

_BASELINE_RUNS = 50


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason a step would run.

    Attributes:
        kind: ``new``, ``code``, ``input``, ``file``, ``param``, ``environment``, ``seed``,
            ``upstream``, ``outputs`` (renamed), ``expired``, ``salt``, ``no-cache`` or
            ``unknown`` (nothing it depends on changed, yet no cached result can be used).
        message: One line for people.
        detail: The facts behind it (names, old and new values), for ``--json``.
    """

    kind: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepStatus:
    """What a run would do with one step: ``cached`` or ``run``, and why.

    Attributes:
        node: The task's name in the graph.
        step: The step's qualified name.
        state: ``cached`` or ``run``.
        reasons: Why it would run (empty when cached).
        compared_to: The earlier task it was compared with, if any.
    """

    node: str
    step: str
    state: str
    reasons: tuple[Reason, ...] = ()
    compared_to: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """The status of every step of a pipeline for some params, in graph order."""

    pipeline: str
    params: dict[str, Any]
    steps: tuple[StepStatus, ...]

    @property
    def up_to_date(self) -> bool:
        """Every step would come from the cache."""
        return all(step.state == "cached" for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "params": self.params,
            "up_to_date": self.up_to_date,
            "steps": [
                {
                    "node": s.node,
                    "step": s.step,
                    "state": s.state,
                    "compared_to": s.compared_to,
                    "reasons": [
                        {"kind": r.kind, "message": r.message, "detail": r.detail}
                        for r in s.reasons
                    ],
                }
                for s in self.steps
            ],
        }


@dataclass(slots=True)
class _Earlier:
    """The newest earlier task of one node, with what its key was made of."""

    task_id: str
    fingerprint: str
    params_json: str
    seed: int
    node: str
    inputs: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] | None = None
    outputs: tuple[str, ...] | None = None


def status(
    pipeline: Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    workspace: Workspace | None = None,
) -> PipelineStatus:
    """Which steps of ``pipeline`` a run with ``params`` would take from the cache, and why not.

    Args:
        pipeline: The pipeline.
        params: Its parameters (defaults apply).
        seed: The run's seed.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: A file a step reads is missing.
        ValidationError: A parameter does not fit.
    """
    ws = workspace or get_workspace()
    bound = pipeline.bind_params(dict(params or {}))
    graph = pipeline.trace(**bound)
    earlier = _earlier_tasks(ws, replay_target(pipeline).ref, [node.key for node in graph.nodes])
    with CacheReader(ws) as reader, RunInputs(ws, None) as inputs:
        judge = _Judge(ws, reader, inputs, seed, earlier)
        steps = tuple(judge.node(node) for node in graph.topological_order())
    order = {node.key: index for index, node in enumerate(graph.nodes)}
    ordered = tuple(sorted(steps, key=lambda s: order[s.node]))
    return PipelineStatus(pipeline.name, bound, ordered)


class _Judge:
    def __init__(
        self,
        ws: Workspace,
        reader: CacheReader,
        inputs: RunInputs,
        seed: int,
        earlier: dict[str, _Earlier],
    ) -> None:
        self.ws = ws
        self.reader = reader
        self.inputs = inputs
        self.seed = seed
        self.earlier = earlier
        self.outputs: dict[str, dict[str, str]] = {}  # node -> output -> digest, when cached
        self.states: dict[str, str] = {}
        self.facts: dict[tuple[str, frozenset[str]], dict[str, Any]] = {}
        self.kinds: dict[str, dict[str, str]] = {}  # node -> output -> materializer, when cached

    def _facts(self, node: Node) -> dict[str, Any]:
        """The step's facts as a run would key this task, with the libraries of its inputs."""
        kinds = frozenset(
            self.kinds.get(h.node.key, {}).get(h.output, "") for h in node.inputs.values()
        )
        key = (node.step.qualname, kinds)
        if key not in self.facts:
            environment = step_environment(
                node.step.fingerprint.libraries | input_modules(kinds - {""})
            )
            self.facts[key] = step_facts(node.step, [environment])
        return self.facts[key]

    def node(self, node: Node) -> StepStatus:
        step = node.step
        waiting = sorted(
            {h.node.key for h in node.inputs.values() if self.states.get(h.node.key) != "cached"}
        )
        earlier = self.earlier.get(node.key)
        compared = earlier.task_id if earlier else None
        if waiting:
            self.states[node.key] = "run"
            names = ", ".join(waiting)
            what = "the output of" if len(waiting) == 1 else "the outputs of"
            upstream = Reason(
                "upstream", f"reads {what} {names}, which will run", {"steps": waiting}
            )
            # Its own changes still matter to whoever asks why: list them too.
            own = (
                self._changes(
                    node, self.inputs.digests(node.files, node.key), earlier, environment=False
                )
                if step.cache and earlier is not None
                else []
            )
            return StepStatus(node.key, step.qualname, "run", (upstream, *own), compared)
        digests = {
            name: self.outputs[h.node.key][h.output] for name, h in node.inputs.items()
        } | self.inputs.digests(node.files, node.key)
        facts = self._facts(node)
        key = cache_key(
            fingerprint=facts["fingerprint"],
            inputs=digests,
            params_json=node.params_json,
            environment=facts["environment"]["digest"],
            seed=task_seed(self.seed, node.key),
            outputs=step.outputs,
        )
        hit = (
            self.reader.lookup(key, outputs=step.outputs, expiry=step.cache_expiry)
            if step.cache
            else None
        )
        if hit is not None:
            self.states[node.key] = "cached"
            self.outputs[node.key] = {name: ref.stored.digest for name, ref in hit.outputs.items()}
            self.kinds[node.key] = {
                name: ref.stored.materializer for name, ref in hit.outputs.items()
            }
            return StepStatus(node.key, step.qualname, "cached", (), hit.task_id)
        self.states[node.key] = "run"
        reasons = self._why(node, key, digests, facts, earlier)
        return StepStatus(node.key, step.qualname, "run", reasons, compared)

    def _why(
        self,
        node: Node,
        key: str,
        digests: dict[str, str],
        facts: dict[str, Any],
        earlier: _Earlier | None,
    ) -> tuple[Reason, ...]:
        step = node.step
        if not step.cache:
            return (Reason("no-cache", "the step is declared with cache=False"),)
        if earlier is None:
            return (Reason("new", "no earlier run of this pipeline ran this step"),)
        reasons = self._changes(node, digests, earlier)
        old_salt = (earlier.facts or {}).get("salt")
        if not reasons and old_salt is not None and old_salt != key_facts_salt():
            reasons.append(Reason("salt", "the cache salt changed (LABLEDGER_CACHE_SALT)"))
        if not reasons:
            reasons.append(self._unchanged_miss(key, step.cache_expiry, step.outputs))
        return tuple(reasons)

    def _changes(
        self, node: Node, digests: dict[str, str], earlier: _Earlier, *, environment: bool = True
    ) -> list[Reason]:
        """What differs from the earlier task: code, params, inputs (those in ``digests``),
        environment, seed, output names.

        ``environment=False`` leaves the environment out: before its inputs exist, the libraries
        behind the values a step will receive are not known.
        """
        step = node.step
        facts = self._facts(node)
        reasons: list[Reason] = []
        old_facts = (earlier.facts or {}).get("steps", {}).get(step.qualname)
        if earlier.fingerprint != facts["fingerprint"]:
            reasons.append(_code_reason(old_facts, facts))
        reasons += _param_reasons(earlier.params_json, node.params_json)
        files = {f.name: (f.path, _file_kind(f.kind, f.path)) for f in node.files}
        known = {name: digest for name, digest in earlier.inputs.items() if name in digests}
        if len(digests) == len(node.inputs) + len(node.files):
            known = earlier.inputs  # every input is known: inputs no longer read count too
        reasons += [
            self._folder_detail(node, reason) if reason.kind == "file" else reason
            for reason in _input_reasons(known, digests, files)
        ]
        if old_facts is not None and environment:
            reasons += _environment_reasons(old_facts["environment"], facts["environment"])
        if task_seed(earlier.seed, node.key) != task_seed(self.seed, node.key):
            reasons.append(
                Reason("seed", f"seed {earlier.seed} -> {self.seed}", {"old": earlier.seed})
            )
        if earlier.outputs is not None and list(earlier.outputs) != list(step.outputs):
            reasons.append(
                Reason(
                    "outputs",
                    f"its outputs are now named {', '.join(step.outputs)} "
                    f"(were {', '.join(earlier.outputs)})",
                    {"old": list(earlier.outputs), "new": list(step.outputs)},
                )
            )
        return reasons

    def _folder_detail(self, node: Node, reason: Reason) -> Reason:
        """For a changed folder, which of its files were edited, added or removed."""
        item = next((f for f in node.files if f.name == reason.detail.get("input")), None)
        old = reason.detail.get("old")
        if item is None or not isinstance(old, str) or not reason.message.startswith("folder"):
            return reason
        try:
            before = {e["path"]: e["digest"] for e in read_manifest(self.ws.store, old)}
        except (LabledgerError, OSError):
            return reason  # the earlier manifest is not kept (a reference) or not readable
        after = {e.path: e.digest for e in self.inputs.hashed(item, node.key).entries}
        edited = sorted(p for p in after if p in before and before[p] != after[p])
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        parts = [
            f"{label} {_few(names)}"
            for label, names in (("edited", edited), ("added", added), ("removed", removed))
            if names
        ]
        detail = {**reason.detail, "edited": edited, "added": added, "removed": removed}
        return Reason(reason.kind, f"{reason.message}: {'; '.join(parts)}", detail)

    def _unchanged_miss(self, key: str, expiry: float | None, outputs: tuple[str, ...]) -> Reason:
        if expiry is not None and self.reader.lookup(key, outputs=outputs) is not None:
            return Reason("expired", f"its cached result is older than cache_expiry={expiry:g}s")
        if self.reader.recorded(key):
            return Reason(
                "outputs",
                "its cached outputs are no longer all in the store (deleted, or collected by "
                "gc), or the run that made them no longer matches its seal; `labledger verify` "
                "names what is missing or changed",
            )
        return Reason(
            "unknown",
            "no cached result can be used, though nothing it depends on changed: its outputs "
            "may be gone from the store (run `labledger verify`), or it was recorded differently",
        )


def _code_reason(old: dict[str, Any] | None, new: dict[str, Any]) -> Reason:
    if old is None:
        return Reason("code", "its code changed")
    before: dict[str, str] = old.get("parts", {})
    after: dict[str, str] = new["parts"]
    changed = sorted(name for name in after if name in before and before[name] != after[name])
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    bits = [f"{_part(name)} changed" for name in changed]
    bits += [f"{_part(name)} is new" for name in added]
    bits += [f"{_part(name)} is no longer used" for name in removed]
    message = "code: " + ("; ".join(bits) if bits else "how the step is bound or wrapped changed")
    return Reason("code", message, {"changed": changed, "added": added, "removed": removed})


def _part(name: str) -> str:
    return "the step itself" if name == "(step)" else name


def _param_reasons(old_json: str, new_json: str) -> list[Reason]:
    if old_json == new_json:
        return []
    try:
        old, new = json.loads(old_json), json.loads(new_json)
    except ValueError:
        return [Reason("param", "its literal arguments changed")]
    reasons = []
    for name in sorted(set(old) | set(new)):
        if old.get(name, _MISSING) != new.get(name, _MISSING):
            reasons.append(
                Reason(
                    "param",
                    f"param {name}: {_show(old.get(name, _MISSING))} -> {_show(new.get(name, _MISSING))}",
                    {"name": name, "old": old.get(name), "new": new.get(name)},
                )
            )
    return reasons


_MISSING = object()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _printable(path: str) -> str:
    """A path as one line: control characters (a newline in a file name) shown escaped."""
    return path if path.isprintable() else repr(path)


def _few(names: list[str], shown: int = 3) -> str:
    if len(names) <= shown:
        return ", ".join(map(_printable, names))
    return f"{', '.join(map(_printable, names[:shown]))} and {len(names) - shown} more"


def _file_kind(kind: str, path: str) -> str:
    if kind == "any":
        return "folder" if os.path.isdir(path) else "file"
    return kind


def _input_reasons(
    old: dict[str, str], new: dict[str, str], files: dict[str, tuple[str, str]]
) -> list[Reason]:
    reasons = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        if name in files:
            path, kind = files[name]
            path = _printable(path)
            what = "changed" if name in old else "is a new input"
            reasons.append(
                Reason(
                    "file",
                    f"{kind} {path} {what}",
                    {
                        "input": name,
                        "path": path,
                        "old": old.get(name),
                        "new": new.get(name),
                    },
                )
            )
        elif name not in new:
            reasons.append(Reason("input", f"input {name} is no longer read", {"input": name}))
        else:
            reasons.append(
                Reason(
                    "input",
                    f"input {name} changed",
                    {"input": name, "old": old.get(name), "new": new.get(name)},
                )
            )
    return reasons


def _digests(environment: dict[str, Any]) -> set[str]:
    """The environment digests recorded for a step: one, or a list when its tasks' differed."""
    found = environment.get("digest")
    return {found} if isinstance(found, str) else {d for d in found or () if isinstance(d, str)}


def _environment_reasons(old: dict[str, Any], new: dict[str, Any]) -> list[Reason]:
    if _digests(new) <= _digests(old):
        return []
    reasons = []
    for what in ("python", "platform"):
        if old.get(what) != new.get(what):
            reasons.append(
                Reason(
                    "environment",
                    f"{what} {old.get(what)} -> {new.get(what)}",
                    {what: new.get(what)},
                )
            )
    before: dict[str, str] = old.get("packages", {})
    after: dict[str, str] = new.get("packages", {})
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            reasons.append(
                Reason(
                    "environment",
                    f"package {name} {before.get(name, '(not used)')} -> {after.get(name, '(not used)')}",
                    {"package": name, "old": before.get(name), "new": after.get(name)},
                )
            )
    return reasons or [Reason("environment", "its environment changed")]


def _earlier_tasks(ws: Workspace, ref: str, nodes: list[str]) -> dict[str, _Earlier]:
    """The newest finished or cached task of each node among this pipeline's latest runs."""
    store = ws.stores.tasks
    found: dict[str, _Earlier] = {}
    facts_of: dict[str, str | None] = {}
    for task in store.earlier_tasks(ref, nodes, len(nodes) * _BASELINE_RUNS):
        if task.node not in found:
            found[task.node] = _Earlier(
                task.task_id,
                task.fingerprint,
                task.params_json,
                task.seed,
                task.node,
                outputs=_outputs_of(task.options_json),
            )
            facts_of[task.task_id] = task.facts_digest
    if not found:
        return found
    by_task = {e.task_id: e for e in found.values()}
    for row in store.task_inputs(list(by_task)):
        content = (
            json.loads(row.schema_json).get("digest", row.digest)
            if row.kind == "reference"
            else row.digest
        )
        by_task[row.task_id].inputs[row.name] = content
    blobs: dict[str, dict[str, Any] | None] = {}
    for task_id, digest in facts_of.items():
        if digest is None:
            continue
        if digest not in blobs:
            blobs[digest] = _read_facts(ws, digest)
        by_task[task_id].facts = blobs[digest]
    return found


def _outputs_of(options_json: str | None) -> tuple[str, ...] | None:
    try:
        outputs = json.loads(options_json or "{}").get("outputs")
    except (ValueError, AttributeError):
        return None
    return tuple(str(o) for o in outputs) if isinstance(outputs, list) else None


def _read_facts(ws: Workspace, digest: str) -> dict[str, Any] | None:
    try:
        with ws.store.open(digest) as handle:
            found = json.loads(handle.read())
    except (OSError, ValueError, LabledgerError):
        return None
    return found if isinstance(found, dict) else None
