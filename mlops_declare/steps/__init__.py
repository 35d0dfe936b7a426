"""Step functions and the local runner: the same code whether `mlops-declare run`, an Airflow task or a
Kubernetes pod calls it.

A step is declared once in `mlops_declare.contracts.steps` (DAGs, inputs, outputs, result, function,
gate). Its function takes a StepContext (the run's plan and validated config, run id, logical date,
the trigger) and one keyword argument per declared input, named as the catalogue names it and holding
the producing step's typed result; it returns its declared result model. Results travel the way
the engine moves them: memory in the local runner, XCom between Airflow tasks, a return file from a
pod; each crossing validates them against their model. Large artefacts (datasets, packages) are
written where the declaration's output says and named in the result. A copy of each result is kept
in `<run_dir>/steps/<name>.json` for people to read. Steps are idempotent for a given (pipeline, run).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_declare.atomic import write_json_atomic
from mlops_declare.config import LoadedConfig
from mlops_declare.contracts.layouts import RUN_STEPS_FOLDER, RUNS_FOLDER
from mlops_declare.contracts.plan import Plan
from mlops_declare.contracts.results import RESULT_MODELS, StepResult
from mlops_declare.contracts.seams import LogicalDateSource, Trigger
from mlops_declare.contracts.steps import STEPS, StepDeclaration, input_producers
from mlops_declare.errors import MlopsDeclareError

RUN_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")


class StepError(MlopsDeclareError):
    """A step failed in a way the user can act on."""


@dataclass(frozen=True)
class StepContext:
    """What a step gets besides its inputs: the run's plan and config, where the project and the run live, the trigger."""

    plan: Plan
    loaded: LoadedConfig
    project_root: Path
    run_id: str
    logical_date: str
    trigger: Trigger | None = None
    """What started the run (shapes in `mlops_declare.contracts.seams.Trigger`); None when nothing did."""
    logical_date_source: LogicalDateSource = "given"

    @property
    def home(self) -> Path:
        return self.loaded.config.project.home_path(self.project_root)

    @property
    def run_dir(self) -> Path:
        return self.home / RUNS_FOLDER / self.run_id

    def resolve(self, path: str | Path) -> Path:
        """A path from a result or the config made absolute against the project root."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.project_root / candidate

    def relative(self, path: Path) -> str:
        """`path` relative to the project root when it is inside it (results stay portable), else absolute."""
        return str(path.relative_to(self.project_root)) if path.is_relative_to(self.project_root) else str(path)


def step_context(
    plan: Plan,
    loaded: LoadedConfig,
    project_root: Path,
    run_id: str,
    logical_date: str,
    trigger: Trigger | None = None,
    logical_date_source: LogicalDateSource = "given",
) -> StepContext:
    """A StepContext with the run id made safe for a folder name and the project root absolute."""
    return StepContext(
        plan, loaded, project_root.resolve(), safe_run_id(run_id), logical_date, trigger, logical_date_source
    )


def declaration(name: str) -> StepDeclaration:
    for step in STEPS:
        if step.name == name:
            return step
    raise StepError(f"unknown step {name!r}; available: {', '.join(step.name for step in STEPS)}")


def result_model(name: str) -> type[StepResult]:
    """The result model step `name` returns."""
    return RESULT_MODELS[declaration(name).result]


def safe_run_id(run_id: str) -> str:
    """A run id usable as a directory name (Airflow run ids hold ':' and '+')."""
    cleaned = RUN_ID_PATTERN.sub("_", run_id).strip("._")
    if not cleaned:
        raise StepError(f"run id {run_id!r} has no usable characters")
    return cleaned[:200]


def step_function(name: str) -> Callable[..., StepResult]:
    """The function a declaration names, imported only now (it may pull in torch, bentoml, ...)."""
    module_name, _, function_name = declaration(name).function.partition(":")
    function: Callable[..., StepResult] = getattr(importlib.import_module(module_name), function_name)
    return function


def validated_result(name: str, value: StepResult | Mapping[str, Any]) -> StepResult:
    """`value` as step `name`'s result model, checked through its JSON form (what crosses a process boundary)."""
    model = result_model(name)
    if isinstance(value, StepResult) and not isinstance(value, model):
        raise StepError(f"step {name!r} returned a {type(value).__name__}; its declaration says {model.__name__}")
    data = value.to_json() if isinstance(value, StepResult) else dict(value)
    try:
        return model.model_validate(data)
    except ValueError as exc:
        raise StepError(f"the result of step {name!r} does not match {model.__name__}: {exc}") from None


def bind_inputs(step: StepDeclaration, results: Mapping[str, StepResult | Mapping[str, Any]]) -> dict[str, StepResult]:
    """The step's keyword arguments: each declared input, as the typed result of the step producing it."""
    producers = input_producers(step, STEPS)
    missing = sorted({producer for producer in producers.values() if producer not in results})
    if missing:
        raise StepError(
            f"step {step.name!r} needs the results of {', '.join(repr(m) for m in missing)} "
            f"(they produce {', '.join(step.inputs)}); run them first in the same run"
        )
    return {item: validated_result(producer, results[producer]) for item, producer in producers.items()}


def check_signature(step: StepDeclaration) -> list[str]:
    """Problems binding the catalogue's inputs to the function's parameters (a test runs it over every step)."""
    parameters = list(inspect.signature(step_function(step.name)).parameters)[1:]
    declared = list(step.inputs)
    if parameters[: len(declared)] != declared:
        return [
            f"step {step.name!r}: function parameters {parameters} do not start with its declared inputs {declared}"
        ]
    return []


def run_step(name: str, context: StepContext, results: Mapping[str, StepResult | Mapping[str, Any]]) -> StepResult:
    """Run one step with its inputs bound by name, validate its result, keep a readable copy of it."""
    step = declaration(name)
    inputs = bind_inputs(step, results)
    result = validated_result(name, step_function(name)(context, **inputs))
    write_json_atomic(context.run_dir / RUN_STEPS_FOLDER / f"{name}.json", result.to_json())
    return result


def gate_closed(name: str, result: StepResult) -> bool:
    """Whether step `name` is a gate that said no (the run ends there as an outcome)."""
    gate = declaration(name).gate
    return gate is not None and not getattr(result, gate)


@dataclass
class PipelineOutcome:
    """What the local runner did: each step's result, and the steps a gate held back."""

    results: dict[str, StepResult]
    skipped: dict[str, str]
    """Step -> why it did not run (the gate that said no)."""

    @property
    def gates_closed(self) -> list[str]:
        """Gate steps that ran and said no (the run ended there as an outcome, e.g. not promoted)."""
        return sorted(name for name, result in self.results.items() if gate_closed(name, result))


def run_pipeline(
    context: StepContext,
    steps: tuple[str, ...],
    on_step: Callable[[str, StepResult | None, str | None], None] | None = None,
) -> PipelineOutcome:
    """The local runner: the given steps in catalogue order, results in memory, gates honoured like Airflow's short-circuit."""
    results: dict[str, StepResult] = {}
    skipped: dict[str, str] = {}
    for name in steps:
        producers = input_producers(declaration(name), STEPS).values()
        held = [p for p in producers if p in skipped or (p in results and gate_closed(p, results[p]))]
        if held:
            skipped[name] = skipped.get(held[0]) or f"gate {held[0]!r} said no ({declaration(held[0]).gate}: false)"
            if on_step is not None:
                on_step(name, None, skipped[name])
            continue
        results[name] = run_step(name, context, results)
        if on_step is not None:
            on_step(name, results[name], None)
    return PipelineOutcome(results, skipped)
