"""Running a pipeline: trace, open a run, schedule tasks through the cache and an executor, seal.

Tasks are visited in dependency order. Each one whose inputs are known gets its cache key; a hit is
recorded at once, a miss goes to the executor. When a task fails, nothing new is started, running
tasks finish and are recorded (so they stay cached), tasks that needed the failed one are recorded
as ``skipped``, and the run fails with the step's traceback.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.errors import StepFailedError
from labledger.pipelines.cache import CacheReader, cache_key
from labledger.pipelines.capture import echoing, routing
from labledger.pipelines.executor import LocalExecutor
from labledger.pipelines.file_inputs import InputChangedWarning
from labledger.pipelines.key_facts import key_facts
from labledger.pipelines.progress import RunProgress
from labledger.pipelines.recorder import TaskRecord, TaskRecorder, read_step_log
from labledger.pipelines.replay_target import replay_target
from labledger.pipelines.run_inputs import RunInputs
from labledger.pipelines.snapshot import snapshot_sources
from labledger.pipelines.step_environment import input_modules, step_environment
from labledger.pipelines.task import TaskResult, TaskSpec, task_seed
from labledger.pipelines.types import PipelineRun, RunInterrupted, TaskOutcome
from labledger.stores.tasks import PipelineRunRecord
from labledger.tracking.run import start_run
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.pipelines.cache import CacheHit, OutputRef
    from labledger.pipelines.definition import Pipeline
    from labledger.pipelines.executor import Executor
    from labledger.pipelines.graph import Graph, Node
    from labledger.pipelines.step_environment import StepEnvironment
    from labledger.pipelines.steps import Step
    from labledger.tracking.run import ActiveRun
    from labledger.workspace.workspace import Workspace

__all__ = ["REUSED_METRICS_TAG", "run_pipeline"]

# The run tag naming the metrics that came with tasks reused from the cache, and their runs.
REUSED_METRICS_TAG = "labledger.reused_metrics"


def _source_files(pipeline: Pipeline, graph: Graph) -> tuple[set[str], bool]:
    from labledger.pipelines.fingerprint import fingerprint_step

    files: set[str] = set()
    captured = True
    body = fingerprint_step(pipeline.func)
    files |= body.sources
    for step in {node.step for node in graph.nodes}:
        files |= step.fingerprint.sources
        captured = captured and step.fingerprint.code_captured
    return files, captured


class _Ready(NamedTuple):
    """A node whose inputs are known, as a task: its record (with its cache key), input refs,
    input values held in memory, input artifact ids, seed, and whether its code was captured."""

    node: Node
    record: TaskRecord
    refs: dict[str, OutputRef]
    values: dict[str, Any]
    input_ids: dict[str, str]
    seed: int
    code_captured: bool


class _Scheduler:
    """The state of one run: which tasks are ready, pending, done, and what they produced."""

    def __init__(
        self,
        graph: Graph,
        *,
        run: ActiveRun,
        workspace: Workspace,
        executor: Executor,
        recorder: TaskRecorder,
        progress: RunProgress,
        cache: CacheReader,
        inputs: RunInputs,
        use_cache: bool,
        seed: int,
    ) -> None:
        self.graph = graph
        self.inputs = inputs
        self.pipeline_run = run
        self.cache = cache
        self.ws = workspace
        self.executor = executor
        self.recorder = recorder
        self.progress = progress
        self.use_cache = use_cache
        self.seed = seed
        self.environments: dict[tuple[Step, frozenset[str]], str] = {}
        # Per step: every environment its tasks' keys held (for key facts).
        self.environment_facts: dict[str, dict[str, StepEnvironment]] = {}
        self.reused_metrics: dict[str, str] = {}  # metric key -> run it was logged in
        self.order = graph.topological_order()
        self.children: dict[Node, list[Node]] = {node: [] for node in self.order}
        self.waiting: dict[Node, int] = {}
        for node in self.order:
            parents = node.upstream
            self.waiting[node] = len(parents)
            for parent in parents:
                self.children[parent].append(node)
        self.consumers = {node: len(self.children[node]) for node in self.order}
        self.outputs: dict[Node, dict[str, OutputRef]] = {}
        self.values: dict[Node, dict[str, Any]] = {}
        self.outcomes: dict[str, TaskOutcome] = {}
        self.failure: TaskOutcome | None = None
        self.failure_trace = ""

    def _inputs(self, node: Node) -> tuple[dict[str, OutputRef], dict[str, Any]]:
        refs: dict[str, OutputRef] = {}
        values: dict[str, Any] = {}
        for name, handle in node.inputs.items():
            refs[name] = self.outputs[handle.node][handle.output]
            held = self.values.get(handle.node)
            if held is not None:
                values[name] = held[handle.output]
        return refs, values

    def _release(self, node: Node) -> None:
        # Drop in-memory outputs once every consumer has them: memory stays bounded by the
        # frontier of the graph, not its size.
        for parent in node.upstream:
            self.consumers[parent] -= 1
            if self.consumers[parent] <= 0:
                self.values.pop(parent, None)

    def _resolve(self, node: Node, refs: dict[str, OutputRef], ready: deque[Node]) -> None:
        self.outputs[node] = refs
        self._release(node)
        for child in self.children[node]:
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                ready.append(child)

    def _outcome(
        self, node: Node, record: TaskRecord, status: str, refs: Mapping[str, OutputRef], **kw: Any
    ) -> None:
        self.outcomes[node.key] = TaskOutcome(
            node=node.key,
            step=node.step.qualname,
            status=status,
            task_id=record.id,
            cache_key=record.cache_key,
            outputs={name: ref.artifact_id for name, ref in refs.items()},
            digests={name: ref.stored.digest for name, ref in refs.items()},
            **kw,
        )

    def _check_inputs_unchanged(self, node: Node, record: TaskRecord) -> None:
        """A file changed while the step ran: its result may not be what the key says."""
        changed = self.inputs.changed(node.files)
        if not changed:
            return
        # Recorded, but under a key no run will ask for: the next run computes it again.
        record.cache_key = f"changed:{record.id}"
        warnings.warn(
            f"step {node.key!r}: {', '.join(changed)} changed while the step ran, so its result "
            "may not match the bytes its cache key holds; the result is kept but will not be "
            "reused from the cache",
            InputChangedWarning,
            stacklevel=2,
        )

    def _reuse_logged(self, hit: CacheHit) -> None:
        """Log to this run the metrics and tags a reused task logged when it ran."""
        logged = read_step_log(self.ws.store, hit.logged_digest)
        if logged is None:
            return
        logged.apply(self.pipeline_run)
        for key, *_ in logged.metrics:
            self.reused_metrics[key] = hit.run_id or ""

    def _environment(self, step: Step, refs: Mapping[str, OutputRef]) -> str:
        kinds = frozenset(ref.stored.materializer for ref in refs.values())
        found = self.environments.get((step, kinds))
        if found is None:
            modules = step.fingerprint.libraries | input_modules(kinds)
            environment = step_environment(modules)
            found = self.environments[step, kinds] = environment.digest
            self.environment_facts.setdefault(step.qualname, {})[found] = environment
        return found

    def _prepare(self, node: Node) -> _Ready:
        """The task of a ready node, with its cache key."""
        step = node.step
        fingerprint = step.fingerprint
        refs, values = self._inputs(node)
        seed = task_seed(self.seed, node.key)
        digests = {name: ref.stored.digest for name, ref in refs.items()}
        input_ids = {name: ref.artifact_id for name, ref in refs.items()}
        if node.files:
            for name, found in self.inputs.resolve(node.files, node.key).items():
                digests[name] = found.digest
                if found.artifact_id is not None:
                    input_ids[name] = found.artifact_id
        record = TaskRecord(
            node=node.key,
            step=step.qualname,
            fingerprint=fingerprint.digest,
            cache_key=cache_key(
                fingerprint=fingerprint.digest,
                inputs=digests,
                params_json=node.params_json,
                environment=self._environment(step, refs),
                seed=seed,
                outputs=step.outputs,
            ),
            params_json=node.params_json,
            options_json=step.options_json,
        )
        return _Ready(node, record, refs, values, input_ids, seed, fingerprint.code_captured)

    def _start_frontier(self, ready: deque[Node], pending: dict[Any, tuple[Node, Any]]) -> None:
        """Start every ready node: one cache lookup for all their keys, then each hit is recorded
        and each miss goes to the executor."""
        frontier = [self._prepare(node) for node in ready]
        ready.clear()
        hits = (
            self.cache.find(
                {
                    task.record.cache_key: (task.node.step.outputs, task.node.step.cache_expiry)
                    for task in frontier
                    if task.node.step.cache
                },
                fingerprints={task.record.cache_key: task.record.fingerprint for task in frontier},
            )
            if self.use_cache
            else {}
        )
        for task in frontier:
            hit = hits.get(task.record.cache_key) if task.node.step.cache else None
            if hit is not None:
                self._reuse(task, hit, ready)
            else:
                self._submit(task, pending)
            self.recorder.maybe_flush()

    def _reuse(self, task: _Ready, hit: CacheHit, ready: deque[Node]) -> None:
        node, record = task.node, task.record
        outputs = self.recorder.cached(
            record, hit, task.input_ids, code_captured=task.code_captured
        )
        if hit.logged_digest is not None:
            self._reuse_logged(hit)
        self._outcome(node, record, "cached", outputs)
        self.progress.done(node.key, "cached")
        self._resolve(node, outputs, ready)

    def _submit(self, task: _Ready, pending: dict[Any, tuple[Node, Any]]) -> None:
        node, record = task.node, task.record
        spec = TaskSpec(
            task_id=record.id,
            node=node.key,
            step=node.step,
            args=node.args,
            inputs={name: ref.stored for name, ref in task.refs.items()},
            seed=task.seed,
            files=node.files,
            path_map=self.inputs.path_map,
        )
        self.progress.running(node.key)
        handle = self.executor.submit(spec, task.values if self.executor.shares_memory else {})
        pending[handle] = (node, (record, task.input_ids))

    def _finish(
        self,
        node: Node,
        record: TaskRecord,
        inputs: dict[str, str],
        result: TaskResult,
        ready: deque[Node],
    ) -> None:
        seconds = max(0.0, result.ended_at - result.started_at)
        if result.logged is not None and not result.logged.teed:
            result.logged.apply(self.pipeline_run)
        if result.ok and node.files:
            self._check_inputs_unchanged(node, record)
        if result.ok:
            refs = self.recorder.finished(
                record,
                result,
                inputs,
                code_captured=node.step.fingerprint.code_captured,
                single_output=len(node.step.outputs) == 1,
            )
            if result.values is not None:
                self.values[node] = result.values
            self._outcome(node, record, "finished", refs, duration=seconds)
            self.progress.done(node.key, "finished", seconds)
            self._resolve(node, refs, ready)
            return
        self.recorder.failed(record, result, inputs, status="failed")
        self._outcome(node, record, "failed", {}, duration=seconds, error=result.error)
        self.progress.done(node.key, "failed", seconds)
        if self.failure is None:
            self.failure = self.outcomes[node.key]
            self.failure_trace = result.traceback

    def run(self) -> None:
        ready: deque[Node] = deque(node for node in self.order if self.waiting[node] == 0)
        pending: dict[Any, tuple[Node, Any]] = {}
        while ready or pending:
            while ready and self.failure is None:
                self._start_frontier(ready, pending)
            if not pending:
                break
            for handle, result in self.executor.wait(list(pending)):
                node, (record, inputs) = pending.pop(handle)
                self._finish(node, record, inputs, result, ready)
            self.recorder.maybe_flush()
        self._skip_the_rest()

    def _skip_the_rest(self) -> None:
        for node in self.order:
            if node.key in self.outcomes:
                continue
            record = TaskRecord(
                node=node.key,
                step=node.step.qualname,
                fingerprint=node.step.fingerprint.digest,
                cache_key="",
                params_json=node.params_json,
                options_json=node.step.options_json,
            )
            inputs = {
                name: self.outputs[h.node][h.output].artifact_id
                for name, h in node.inputs.items()
                if h.node in self.outputs
            }
            reason = f"not run: step {self.failure.node if self.failure else '?'} failed"
            self.recorder.failed(
                record, TaskResult(node=node.key, error=reason), inputs, status="skipped"
            )
            self._outcome(node, record, "skipped", {}, error=reason)
            self.progress.done(node.key, "skipped")


def _record_pipeline_run(
    ws: Workspace,
    run: ActiveRun,
    pipeline: Pipeline,
    graph: Graph,
    *,
    params: dict[str, Any],
    seed: int,
    reproduces: str | None,
) -> bool:
    files, captured = _source_files(pipeline, graph)
    snapshot = snapshot_sources(ws.store, files)
    target = replay_target(pipeline)
    ws.stores.tasks.create_pipeline_run(
        PipelineRunRecord(
            run_id=run.id,
            pipeline=target.ref,
            code_digest=snapshot.digest,
            lock_digest=run._row.get("environment_digest"),
            seed=seed,
            params_json=canonical_text(params),
            reproduces=reproduces,
            facts_digest=None,  # written when the run's keys are known
            replay_error=target.error,
        ),
        blobs=snapshot.blobs,
    )
    return captured


def _record_key_facts(ws: Workspace, run_id: str, graph: Graph, scheduler: _Scheduler) -> None:
    """Keep what each step's keys were made of, so a later run can say what changed."""
    facts = canonical_json(
        key_facts(
            graph, {name: list(envs.values()) for name, envs in scheduler.environment_facts.items()}
        )
    )
    digest = ws.store.put(facts)
    ws.stores.tasks.set_key_facts(run_id, digest, len(facts))


def run_pipeline(
    pipeline: Pipeline,
    params: Mapping[str, Any],
    *,
    executor: Executor | None = None,
    cache: bool = True,
    workspace: Workspace | None = None,
    run_name: str | None = None,
    tags: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = False,
    echo: bool = False,
    reproduces: str | None = None,
    path_map: Mapping[str, str] | None = None,
    project: str = "default",
) -> PipelineRun:
    """Run ``pipeline`` (see ``Pipeline.run``).

    Args:
        reproduces: The run this one re-executes.
        path_map: Recorded path of a file input -> where its bytes are now (a reproduction
            places them in a scratch folder).
    """
    ws = workspace or get_workspace()
    bound = pipeline.bind_params(params)
    graph = pipeline.trace(**bound)
    executor = executor or LocalExecutor()
    began = time.perf_counter()
    # The project first: on a server, one the user is no member of is the error to see.
    ws.project_id(project)
    # Seal dead runs first, every time: the cache serves only sealed runs' tasks, so a re-run
    # after a crash resumes from what the crashed run finished.
    ws.reap_dead_runs()
    run = start_run(
        run_name or pipeline.name,
        params=bound,
        tags=tags,
        kind="pipeline",
        project=project,
        workspace=ws,
    )
    recorded: dict[str, TaskOutcome] = {}  # the scheduler's, to count them after Ctrl-C
    try:
        captured = _record_pipeline_run(
            ws, run, pipeline, graph, params=bound, seed=seed, reproduces=reproduces
        )
        executor.open(ws)
        recorder = TaskRecorder(
            ws,
            run.id,
            code_captured=captured,
            before_write=executor.make_durable,
            project_id=ws.project_id(project),
        )
        with (
            RunProgress(pipeline.name, len(graph), enabled=progress) as view,
            routing(),
            echoing(view.echo if echo else None),
            CacheReader(ws, run.id) as reader,
            RunInputs(ws, recorder, path_map=path_map) as inputs,
        ):
            scheduler = _Scheduler(
                graph,
                run=run,
                workspace=ws,
                executor=executor,
                recorder=recorder,
                progress=view,
                cache=reader,
                inputs=inputs,
                use_cache=cache,
                seed=seed,
            )
            recorded = scheduler.outcomes
            if cache and ws.settings.server_url is not None:
                # Each lookup is a round trip to the server: fetch the steps' entries at once.
                reader.prime(
                    node.step.fingerprint.digest for node in graph.nodes if node.step.cache
                )
            try:
                scheduler.run()
            finally:
                recorder.flush()
                _record_key_facts(ws, run.id, graph, scheduler)
    except BaseException as exc:
        executor.close()
        run.end("killed" if isinstance(exc, KeyboardInterrupt) else "failed", repr(exc))
        if isinstance(exc, KeyboardInterrupt):
            statuses = [outcome.status for outcome in recorded.values()]
            raise RunInterrupted(
                run.id, finished=statuses.count("finished"), cached=statuses.count("cached")
            ) from exc
        raise
    executor.close()
    if scheduler.reused_metrics:
        run.set_tag(REUSED_METRICS_TAG, canonical_text(scheduler.reused_metrics))
    failure = scheduler.failure
    run.end("failed" if failure else "finished", failure.error if failure else None)
    outcomes = {
        key: _remapped(outcome, recorder.remap) for key, outcome in scheduler.outcomes.items()
    }
    ordered = {node.key: outcomes[node.key] for node in graph.nodes}
    result = PipelineRun(
        run_id=run.id,
        pipeline=pipeline.name,
        status="failed" if failure else "finished",
        params=bound,
        seed=seed,
        tasks=ordered,
        duration=time.perf_counter() - began,
        workspace=ws,
        stored={
            f"{node.key}.{name}": ref.stored
            for node, refs in scheduler.outputs.items()
            for name, ref in refs.items()
        },
    )
    if failure is not None:
        raise StepFailedError(
            failure.error or f"step {failure.node!r} failed",
            node=failure.node,
            run_id=run.id,
            traceback=scheduler.failure_trace,
            hint=f"fix it and run again: finished steps are cached (run {run.id})",
        )
    return result


def _remapped(outcome: TaskOutcome, remap: dict[str, str]) -> TaskOutcome:
    if not remap or not any(a in remap for a in outcome.outputs.values()):
        return outcome
    from dataclasses import replace

    return replace(outcome, outputs={k: remap.get(v, v) for k, v in outcome.outputs.items()})
