"""Run steps in tests as the local runner does: the plan compiled from the test's config, inputs bound by
name from earlier results (keyed by producing step, as dicts or result models), results as JSON dicts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_declare.compiler import compile_plan
from mlops_declare.config import LoadedConfig
from mlops_declare.contracts.seams import Trigger
from mlops_declare.steps import StepContext, run_step, step_context


def context_for(
    loaded: LoadedConfig, project: Path, run_id: str, logical_date: str, trigger: Mapping[str, Any] | None = None
) -> StepContext:
    """The StepContext the local runner would build for this config and run."""
    typed = Trigger.model_validate(dict(trigger)) if trigger is not None else None
    return step_context(compile_plan(loaded), loaded, project, run_id, logical_date, typed)


def run_step_json(
    name: str,
    loaded: LoadedConfig,
    project: Path,
    run_id: str,
    logical_date: str,
    upstream: Mapping[str, Any] | None = None,
    trigger: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run step `name` and return its result as JSON; the run's `snapshot_config` result is supplied when not given."""
    context = context_for(loaded, project, run_id, logical_date, trigger)
    results = dict(upstream or {})
    if "snapshot_config" not in results and name in ("ingest", "collect_window"):
        results["snapshot_config"] = run_step("snapshot_config", context, {})
    return run_step(name, context, results).to_json()
