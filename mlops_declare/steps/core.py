"""The run-time plan: where a task finds its project and plan, the run's snapshot of it, and the
`snapshot_config` step that writes that snapshot.

Every runner outside `mlops-declare run` (an Airflow task, a Kubernetes pod) starts here: it finds
the project folder from deployment config, reads the run's snapshot of plan.json (or, before
`snapshot_config` has run, the project's plan.json), refuses a plan whose DAG does not match the
fingerprint the generated file carries, and validates the plan's config (resolving `${oc.env:VAR}`
references in this process only).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from mlops_declare.atomic import write_text_atomic
from mlops_declare.contracts.environment import PROJECT_ROOT, project_root_variable
from mlops_declare.contracts.layouts import RUN_PLAN_FILE, RUNS_FOLDER
from mlops_declare.contracts.plan import PLAN_FILE, Plan, PlanError, read_plan
from mlops_declare.contracts.results import SnapshotResult
from mlops_declare.contracts.seams import RunContext
from mlops_declare.steps import StepContext, step_context

LOGGER = logging.getLogger("mlops_declare.steps")
SNAPSHOT_STEP = "snapshot_config"
"""The step that writes the run's plan snapshot (the root of every DAG)."""


def snapshot_config(context: StepContext) -> SnapshotResult:
    """Write the run's plan (the compiled config, secrets as `${oc.env:VAR}` references) into the run folder."""
    path = context.run_dir / RUN_PLAN_FILE
    write_text_atomic(path, context.plan.to_json())
    return SnapshotResult(
        plan_path=context.relative(path),
        plan_fingerprint=context.plan.fingerprint,
        config_fingerprint=context.plan.config_fingerprint,
        choices=dict(context.plan.choices),
        logical_date=context.logical_date,
        logical_date_source=context.logical_date_source,
        trigger=context.trigger,
    )


def locate_project(
    project: str, dag_file: str | Path | None = None, variables: Mapping[str, str | None] | None = None
) -> Path:
    """The folder holding `project`'s plan.json, from deployment config.

    In order: the environment variable `MLOPS_DECLARE_ROOT_<PROJECT>`, the Airflow Variable of the same
    name in lower case (given in `variables`), `MLOPS_DECLARE_PROJECT_ROOT` (a pod or a service: the
    image's project folder), and last the folder above the DAG file's folder, used only when its
    plan.json is this project's (the single-project layout, `<project>/dags/`). A shared dags folder
    therefore needs the variable; without it the error names the variable to set.
    """
    variable = project_root_variable(project)
    candidates = [os.environ.get(variable), (variables or {}).get(variable.lower()), os.environ.get(PROJECT_ROOT)]
    for candidate in candidates:
        if candidate:
            return Path(candidate).resolve()
    if dag_file is not None:
        beside = Path(dag_file).resolve().parent.parent
        try:
            if read_plan(beside / PLAN_FILE).project == project:
                return beside
        except PlanError:
            pass  # not this project's folder: fall through to the error naming the variable
    raise PlanError(
        f"cannot find project {project!r}: set the environment variable {variable} (or the Airflow Variable "
        f"{variable.lower()}) to the project folder holding its {PLAN_FILE}"
    )


def run_plan(project_root: Path, run_id: str, step: str = SNAPSHOT_STEP) -> Plan:
    """The run's own snapshot of the plan when `snapshot_config` wrote one, else the project's plan.json.

    A later step that finds no snapshot (a worker or pod that does not see the run folder) runs the
    project's plan.json and says so in the task log: it may differ from the plan the run started with.
    """
    project_plan = read_plan(project_root / PLAN_FILE)
    snapshot = project_plan.config["project"]["home"]
    home = Path(snapshot) if Path(snapshot).is_absolute() else project_root / snapshot
    run_copy = home / RUNS_FOLDER / run_id / RUN_PLAN_FILE
    if run_copy.is_file():
        return read_plan(run_copy)
    if step != SNAPSHOT_STEP:
        LOGGER.warning(
            "step %s: run %s has no plan snapshot here (%s); running the project's %s (plan %s)",
            step,
            run_id,
            run_copy,
            PLAN_FILE,
            project_plan.fingerprint[:12],
        )
    return project_plan


def task_context(
    project_root: Path, dag_id: str, plan_fingerprint: str, source: str, run: RunContext, step: str = SNAPSHOT_STEP
) -> StepContext:
    """The StepContext of one task of a generated DAG: the run's plan, checked against the file's PLAN_FINGERPRINT."""
    from mlops_declare.config import load_snapshot

    plan = run_plan(project_root, run.run_id, step)
    plan.require_dag(dag_id, plan_fingerprint, source)
    return step_context(
        plan,
        load_snapshot(plan.config),
        project_root,
        run.run_id,
        run.logical_date,
        run.trigger,
        run.logical_date_source,
    )
