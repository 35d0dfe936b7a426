"""Step functions and the local runner: the same code whether `mlops-declare run` or an Airflow task calls it.

A step takes a StepContext (validated config, run id, logical date, run directory, upstream
results) and returns a small JSON-able dict. Results are written to
`<run_dir>/steps/<name>.json`, so a step running in another process (an Airflow task) finds its
upstream results on disk. Steps are idempotent for a given (pipeline, logical date).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_declare.atomic import write_json_atomic
from mlops_declare.config import LoadedConfig, load_snapshot
from mlops_declare.errors import MlopsDeclareError

STEP_FUNCTIONS: dict[str, str] = {
    "snapshot_config": "mlops_declare.steps.core:snapshot_config",
    "ingest": "mlops_declare.steps.data:ingest",
    "validate_data": "mlops_declare.steps.data:validate_data",
    "train": "mlops_declare.steps.train:train",
    "evaluate": "mlops_declare.steps.train:evaluate",
    "register": "mlops_declare.steps.registry:register",
    "promote": "mlops_declare.steps.registry:promote",
}
"""Step name -> "module:function". A step exists here only once it is implemented."""

RUN_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")


class StepError(MlopsDeclareError):
    """A step failed in a way the user can act on."""


@dataclass(frozen=True)
class StepContext:
    """What a step gets: the config, where the project and this run live, and upstream results."""

    loaded: LoadedConfig
    project_root: Path
    run_id: str
    logical_date: str
    upstream: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.resolve(self.loaded.config.project.home)

    @property
    def run_dir(self) -> Path:
        return self.home / "runs" / self.run_id

    def resolve(self, path: str | Path) -> Path:
        """A config path made absolute against the project root."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.project_root / candidate


def available_steps() -> tuple[str, ...]:
    """Names of the implemented steps (the compiler orders them into a plan)."""
    return tuple(sorted(STEP_FUNCTIONS))


def safe_run_id(run_id: str) -> str:
    """A run id usable as a directory name (Airflow run ids hold ':' and '+')."""
    cleaned = RUN_ID_PATTERN.sub("_", run_id).strip("._")
    if not cleaned:
        raise StepError(f"run id {run_id!r} has no usable characters")
    return cleaned[:200]


def step_function(name: str) -> Callable[[StepContext], dict[str, Any]]:
    if name not in STEP_FUNCTIONS:
        raise StepError(f"unknown step {name!r}; available: {', '.join(available_steps())}")
    module_name, _, function_name = STEP_FUNCTIONS[name].partition(":")
    function: Callable[[StepContext], dict[str, Any]] = getattr(importlib.import_module(module_name), function_name)
    return function


def read_results(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Results of the steps already finished in a run directory."""
    results: dict[str, dict[str, Any]] = {}
    folder = run_dir / "steps"
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            results[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return results


def run_step(
    name: str,
    loaded: LoadedConfig,
    project_root: Path,
    run_id: str,
    logical_date: str,
) -> dict[str, Any]:
    """Run one step with the upstream results found on disk, and record its result."""
    context = StepContext(loaded, project_root.resolve(), safe_run_id(run_id), logical_date)
    context = StepContext(
        loaded, context.project_root, context.run_id, logical_date, read_results(context.run_dir)
    )
    result = step_function(name)(context)
    write_json_atomic(context.run_dir / "steps" / f"{name}.json", result)
    return result


def run_from_snapshot(
    name: str, snapshot: Mapping[str, Any], project_root: str | Path, run_id: str, logical_date: str
) -> dict[str, Any]:
    """Entry point of generated Airflow tasks: validate the embedded config snapshot, then run the step."""
    return run_step(name, load_snapshot(snapshot), Path(project_root), run_id, logical_date)


def run_pipeline(
    loaded: LoadedConfig,
    project_root: Path,
    run_id: str,
    logical_date: str,
    steps: tuple[str, ...],
    on_step: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The local runner: the given steps (a plan's order) one after another."""
    results: dict[str, dict[str, Any]] = {}
    for name in steps:
        results[name] = run_step(name, loaded, project_root, run_id, logical_date)
        if on_step is not None:
            on_step(name, results[name])
    return results
