"""The plan: the compiled IR (steps, edges, DAGs, the service, the validated config) and plan.json.

`plan.json` is the one run-time artefact: every runner (the local runner, an Airflow task, a
Kubernetes pod, the service build) reads it, or the run's own snapshot of it, and refuses a
fingerprint that does not match what it was generated from. The compiler fills it
(`mlops_declare.compiler.compile_plan`); this module only declares and reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_declare._version import __version__
from mlops_declare.contracts.service import ServiceSpec
from mlops_declare.contracts.steps import DagRole, StepDeclaration
from mlops_declare.errors import MlopsDeclareError

GENERATOR = "mlops-declare"
GENERATOR_VERSION = __version__
PLAN_FILE = "plan.json"
"""Where compile writes the plan, relative to the project root (and inside a run folder, its snapshot)."""


class PlanError(MlopsDeclareError):
    """plan.json is missing, unreadable or does not match what a generated file was compiled from."""


class ArtifactSpec(BaseModel):
    """A file or record a step produces, and where it lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: str
    location: str
    produced_by: str


class KubernetesSpec(BaseModel):
    """How a step runs as a pod (`orchestration.task_runner: kubernetes`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str
    namespace: str
    project_root: str
    image_pull_policy: str
    service_account: str | None


class TaskSettings(BaseModel):
    """Airflow task settings from `orchestration` (the DAG's default_args)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: str
    retries: int
    retry_delay_minutes: int
    execution_timeout_minutes: int
    queue: str | None
    pool: str | None
    notify_failure: bool = False
    """Whether failed tasks POST `orchestration.notifications.failure_webhook` (resolved at run time, never rendered)."""
    task_runner: Literal["local", "celery", "kubernetes"] = "local"
    kubernetes: KubernetesSpec | None = None
    """Pod settings when the task runner is kubernetes."""


class TaskSpec(BaseModel):
    """One task of a generated DAG: which step it runs, whose results it receives, what it gates or emits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    upstream: tuple[str, ...]
    """Steps whose results this task receives (the producers of its inputs); also its incoming edges."""
    gate: str | None
    """Result key that must be true for later tasks to run (short-circuit)."""
    outlets: tuple[str, ...]
    """URIs of the Assets this task emits an event on."""
    queue: str | None
    """Queue overriding the DAG default (training steps on `orchestration.training_queue`)."""


class ScheduleSpec(BaseModel):
    """When a DAG runs: a cron expression or preset, Assets whose events start it, or both (either starts it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str | None
    assets: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = ([self.cron] if self.cron else []) + [f"asset {uri}" for uri in self.assets]
        return " or ".join(parts) if parts else "manual only"


class DagSpec(BaseModel):
    """One generated Airflow DAG: everything its renderer needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dag_id: str
    role: DagRole
    file: str
    schedule: ScheduleSpec
    start_date: str
    catchup: bool
    max_active_runs: int
    tags: tuple[str, ...]
    settings: TaskSettings
    tasks: tuple[TaskSpec, ...]
    edges: tuple[tuple[str, str], ...]
    """The edges the DAG draws: the transitive reduction of the data edges (tasks still receive every producer's result)."""
    fingerprint: str = ""
    """sha256 of this DAG's canonical JSON without this field and of the project name: the generated file's
    PLAN_FINGERPRINT. A config change that leaves the DAG's structure alone (serving.port) leaves it alone too."""

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)


class Plan(BaseModel):
    """Everything `compile` derives from the config; plan.json is this, serialised."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generator: str = GENERATOR
    generator_version: str = GENERATOR_VERSION
    project: str
    config_fingerprint: str
    choices: dict[str, str | None]
    steps: tuple[StepDeclaration, ...]
    edges: tuple[tuple[str, str], ...]
    """(producer, consumer) pairs derived from the steps' inputs and outputs."""
    artifacts: tuple[ArtifactSpec, ...]
    dags: tuple[DagSpec, ...]
    service: ServiceSpec
    config: dict[str, Any] = Field(repr=False)
    """The validated config snapshot (secrets as `${oc.env:VAR}` references)."""
    fingerprint: str = ""
    """sha256 of the canonical JSON of everything above."""

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def dag(self, role_or_id: str) -> DagSpec:
        for dag in self.dags:
            if role_or_id in (dag.role, dag.dag_id):
                return dag
        raise PlanError(
            f"the plan of project {self.project!r} has no DAG {role_or_id!r} (it has: {', '.join(d.dag_id for d in self.dags)})"
        )

    def require_dag(self, dag_id: str, fingerprint: str, source: str) -> DagSpec:
        """The DAG `dag_id`, checked against the fingerprint a generated file carries; one line naming compile otherwise."""
        dag = self.dag(dag_id)
        if dag.fingerprint != fingerprint:
            raise PlanError(
                f"{source} was generated from another plan than {PLAN_FILE} of project {self.project!r} "
                f"(DAG {dag_id}: file {fingerprint[:12]}, plan {dag.fingerprint[:12]}); run `mlops-declare compile`"
            )
        return dag

    def require_service(self, fingerprint: str, source: str) -> ServiceSpec:
        if self.service.fingerprint != fingerprint:
            raise PlanError(
                f"{source} was generated from another plan than {PLAN_FILE} of project {self.project!r} "
                f"(service: file {fingerprint[:12]}, plan {self.service.fingerprint[:12]}); run `mlops-declare compile`"
            )
        return self.service


def read_plan(path: str | Path) -> Plan:
    """plan.json (or a run's snapshot of it), validated; PlanError naming the file and `mlops-declare compile` otherwise."""
    location = Path(path)
    try:
        data = json.loads(location.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{location}: no compiled plan here; run `mlops-declare compile` in the project") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"{location}: not a readable plan ({exc}); run `mlops-declare compile`") from None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PlanError(
            f"{location}: {where}: {first['msg']} (written by {data.get('generator_version', 'an unknown version') if isinstance(data, dict) else 'unknown'}); "
            "run `mlops-declare compile` with this version"
        ) from None
    return plan
