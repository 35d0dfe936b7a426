"""Step functions and the local runner: the same code whether `mlops-declare run` or an Airflow task calls it.

A step is declared once in `mlops_declare.contracts.steps` (DAG, inputs, outputs, function,
gate). Its function takes a StepContext (validated config, run id, logical date, the results of
the steps producing its inputs, the event that triggered the run) and returns a small JSON-able
dict. Results travel the way the engine moves them: through memory in the local runner, through
XCom in generated Airflow DAGs (`mlops_declare.steps.airflow`); no step reads another step's
result from disk. Large artefacts (datasets, packages) are written where the declaration's output
says and named in the result. A copy of each result is kept in `<run_dir>/steps/<name>.json` for
people to read. Steps are idempotent for a given (pipeline, run).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_declare.atomic import write_json_atomic
from mlops_declare.config import LoadedConfig, load_snapshot
from mlops_declare.contracts.steps import STEPS, StepDeclaration, producers_of
from mlops_declare.errors import MlopsDeclareError

RUN_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")

LogicalDateSource = str
"""How a run's logical date was found: `given`, `logical_date`, `asset_event` or `run_after`."""


class StepError(MlopsDeclareError):
    """A step failed in a way the user can act on."""


class UpstreamResults(Mapping[str, Mapping[str, Any]]):
    """The results a step may read: those of the steps producing its declared inputs, and no others.

    Reading any other step's result is a wiring mistake (the graph would not order the two
    steps), so it fails loudly instead of returning nothing.
    """

    def __init__(self, step: str, allowed: tuple[str, ...], results: Mapping[str, Mapping[str, Any]]) -> None:
        self._step = step
        self._allowed = allowed
        self._results = {name: results[name] for name in allowed if name in results}

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        if name not in self._allowed:
            raise StepError(
                f"step {self._step!r} reads the result of step {name!r}, which produces none of its declared inputs "
                f"(it may read: {', '.join(self._allowed) or 'nothing'}); declare the input in the step catalogue"
            )
        return self._results[name]

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self._allowed:
            self[name]
        return self._results.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._results

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)


@dataclass(frozen=True)
class StepContext:
    """What a step gets: the config, where the project and this run live, upstream results, the trigger."""

    loaded: LoadedConfig
    project_root: Path
    run_id: str
    logical_date: str
    upstream: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    trigger: Mapping[str, Any] | None = None
    """What started the run, if anything: `{"kind": ..., "extra": payload, ...}` (shapes in mlops_declare/steps/airflow.py)."""
    logical_date_source: LogicalDateSource = "given"

    @property
    def home(self) -> Path:
        return self.loaded.config.project.home_path(self.project_root)

    @property
    def run_dir(self) -> Path:
        return self.home / "runs" / self.run_id

    def resolve(self, path: str | Path) -> Path:
        """A path from a result or the config made absolute against the project root."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.project_root / candidate

    def relative(self, path: Path) -> str:
        """`path` relative to the project root when it is inside it (results stay portable), else absolute."""
        return str(path.relative_to(self.project_root)) if path.is_relative_to(self.project_root) else str(path)


def declaration(name: str) -> StepDeclaration:
    for step in STEPS:
        if step.name == name:
            return step
    raise StepError(f"unknown step {name!r}; available: {', '.join(step.name for step in STEPS)}")


def safe_run_id(run_id: str) -> str:
    """A run id usable as a directory name (Airflow run ids hold ':' and '+')."""
    cleaned = RUN_ID_PATTERN.sub("_", run_id).strip("._")
    if not cleaned:
        raise StepError(f"run id {run_id!r} has no usable characters")
    return cleaned[:200]


def step_function(name: str) -> Callable[[StepContext], dict[str, Any]]:
    """The function a declaration names, imported only now (it may pull in torch, bentoml, ...)."""
    module_name, _, function_name = declaration(name).function.partition(":")
    function: Callable[[StepContext], dict[str, Any]] = getattr(importlib.import_module(module_name), function_name)
    return function


def run_step(
    name: str,
    loaded: LoadedConfig,
    project_root: Path,
    run_id: str,
    logical_date: str,
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
    trigger: Mapping[str, Any] | None = None,
    logical_date_source: LogicalDateSource = "given",
) -> dict[str, Any]:
    """Run one step with the results of its producers, and keep a readable copy of its result."""
    step = declaration(name)
    allowed = producers_of(step, STEPS)
    given = upstream or {}
    missing = [producer for producer in allowed if producer not in given]
    if missing:
        raise StepError(
            f"step {name!r} needs the results of {', '.join(repr(m) for m in missing)} "
            f"(they produce {', '.join(step.inputs)}); run them first in the same run"
        )
    context = StepContext(
        loaded,
        project_root.resolve(),
        safe_run_id(run_id),
        logical_date,
        UpstreamResults(name, allowed, given),
        trigger,
        logical_date_source,
    )
    result = step_function(name)(context)
    write_json_atomic(context.run_dir / "steps" / f"{name}.json", result)
    return result


@dataclass
class PipelineOutcome:
    """What the local runner did: each step's result, and the steps a gate held back."""

    results: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    """Step -> why it did not run (the gate that said no)."""

    @property
    def gates_closed(self) -> list[str]:
        """Gate steps that ran and said no (the run ended there as an outcome, e.g. not promoted)."""
        return sorted(_closed_gates(self.results))


def run_pipeline(
    loaded: LoadedConfig,
    project_root: Path,
    run_id: str,
    logical_date: str,
    steps: tuple[str, ...],
    on_step: Callable[[str, dict[str, Any] | None, str | None], None] | None = None,
    trigger: Mapping[str, Any] | None = None,
) -> PipelineOutcome:
    """The local runner: the given steps in catalogue order, results in memory, gates honoured like Airflow's short-circuit."""
    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in steps:
        step = declaration(name)
        held = [
            producer
            for producer in producers_of(step, STEPS)
            if producer in skipped or producer in _closed_gates(results)
        ]
        if held:
            skipped[name] = skipped.get(held[0]) or f"gate {held[0]!r} said no ({declaration(held[0]).gate}: false)"
            if on_step is not None:
                on_step(name, None, skipped[name])
            continue
        results[name] = run_step(name, loaded, project_root, run_id, logical_date, results, trigger)
        if on_step is not None:
            on_step(name, results[name], None)
    return PipelineOutcome(results, skipped)


def _closed_gates(results: Mapping[str, Mapping[str, Any]]) -> set[str]:
    return {name for name, result in results.items() if (gate := declaration(name).gate) and not result.get(gate)}


def run_from_snapshot(
    name: str,
    snapshot: Mapping[str, Any],
    project_root: str | Path,
    run_id: str,
    logical_date: str,
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
    trigger: Mapping[str, Any] | None = None,
    logical_date_source: LogicalDateSource = "given",
) -> dict[str, Any]:
    """Run a step from a generated file's embedded config snapshot (re-validated here, env references resolved now)."""
    return run_step(
        name, load_snapshot(snapshot), Path(project_root), run_id, logical_date, upstream, trigger, logical_date_source
    )
