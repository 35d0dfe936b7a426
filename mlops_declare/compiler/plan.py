"""The plan: a JSON-serialisable IR of steps, edges, artifacts and generated outputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_declare._version import __version__
from mlops_declare.compiler.catalogue import (
    DAG_ROLES,
    STEPS,
    DagRole,
    StepDeclaration,
    catalogue_problems,
    producers_of,
)
from mlops_declare.config import LoadedConfig, ProjectConfig, fingerprint_of
from mlops_declare.config.data import declared_features
from mlops_declare.config.serving import Batching, InferenceLog, Limits, Resources, Rollout, Tracing
from mlops_declare.errors import CompileError, ConfigIssue
from mlops_declare.seams import promoted_asset_uri, retrain_asset_uri

GENERATOR = "mlops-declare"
GENERATOR_VERSION = __version__


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

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)


class FeatureSpec(BaseModel):
    """One request field of the service, as the compiler knows it from the data schema."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["numeric", "categorical", "image"]
    shape: tuple[int, ...] | None = None
    """Shape of one image (images only)."""
    categories: tuple[str, ...] | None = None
    """Allowed values of a categorical feature, where the config declares them."""
    optional: bool
    """Whether the field may be null or left out (imputed numbers, the unknown category)."""


class ServiceSpec(BaseModel):
    """The generated BentoML service project: everything the renderer and the runtime need, typed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    class_name: str
    """Python class name of the service in service.py."""
    model: str
    """Registry reference the service follows (e.g. digits@production)."""
    model_name: str
    task: Literal["binary", "multiclass", "regression"]
    directory: str
    inputs: tuple[str, ...] | None
    """Request fields; None when only the data can tell (inferred features)."""
    features: tuple[FeatureSpec, ...] | None
    """Typed request fields; None when only the data can tell: the runtime then reads the package's input schema."""
    port: int
    workers: int
    resources: Resources
    batching: Batching
    limits: Limits
    rollout: Rollout
    log_inferences: bool
    log_sample_rate: float
    inference_log: InferenceLog
    inference_log_dir: str
    """Where the inference log goes, relative to the project root unless absolute (`<project.home>/inferences`)."""
    reload_s: float
    access_log: bool
    tracing: Tracing
    api_key_env: str | None
    """Name of the environment variable holding the API key (never the key)."""


def service_spec(config: ProjectConfig, directory: str) -> ServiceSpec:
    """The typed service description the BentoML renderer and the serving runtime read."""
    import re

    from mlops_declare.config.data import GeneratedSource
    from mlops_declare.seams import INFERENCE_LOG_FOLDER

    serving = config.serving
    declared = declared_features(config.data)
    if declared is not None and serving.inputs:
        by_name = {feature.name: feature for feature in declared}
        declared = [by_name[name] for name in serving.inputs if name in by_name]
    categories: dict[str, tuple[str, ...]] = {}
    if isinstance(config.data.source, GeneratedSource):
        categories = {
            column.name: tuple(column.categories) for column in config.data.source.columns if column.categories
        }
    features = (
        None
        if declared is None
        else tuple(
            FeatureSpec(
                name=feature.name,
                type=feature.type,
                shape=tuple(feature.shape) if feature.shape else None,
                categories=categories.get(feature.name),
                optional=feature.type != "image",
            )
            for feature in declared
        )
    )
    class_name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", serving.service_name) if part)
    return ServiceSpec(
        name=serving.service_name,
        class_name=class_name or "Predictor",
        model=serving.model or f"{config.model.name}@production",
        model_name=config.model.name,
        task=config.model.task,
        directory=directory,
        inputs=tuple(feature.name for feature in features) if features is not None else None,
        features=features,
        port=serving.port,
        workers=serving.workers,
        resources=serving.resources,
        batching=serving.batching,
        limits=serving.limits,
        rollout=serving.rollout,
        log_inferences=serving.log_inferences,
        log_sample_rate=serving.log_sample_rate,
        inference_log=serving.inference_log,
        inference_log_dir=f"{config.project.home}/{INFERENCE_LOG_FOLDER}",
        reload_s=serving.reload_s,
        access_log=serving.access_log,
        tracing=serving.tracing,
        api_key_env=serving.api_key_env,
    )


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
        import json

        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def derive_edges(steps: tuple[StepDeclaration, ...]) -> tuple[tuple[str, str], ...]:
    """(producer, consumer) for every input a step reads; the graph the DAGs and the local runner follow."""
    return tuple((producer, step.name) for step in steps for producer in producers_of(step, steps))


def _dag(config: ProjectConfig, role: DagRole, steps: tuple[StepDeclaration, ...]) -> DagSpec | None:
    members = tuple(step for step in steps if step.dag == role)
    if not members:
        return None
    orchestration = config.orchestration
    cron = orchestration.training_schedule if role == "training" else orchestration.monitoring_schedule
    assets_of = {
        "promoted": promoted_asset_uri(config.project.name, config.model.name),
        "retrain": retrain_asset_uri(config.project.name, config.model.name),
    }
    assets: list[str] = []
    if role == "training" and orchestration.triggers.new_data and orchestration.triggers.data_asset:
        assets.append(orchestration.triggers.data_asset)
    if role == "training" and orchestration.triggers.drift and any("retrain" in step.emits for step in steps):
        # Drift-triggered retraining: the monitoring DAG emits this Asset (see mlops_declare.seams).
        assets.append(assets_of["retrain"])
    dag_id = f"{orchestration.dag_prefix}_{role}"
    tasks = tuple(
        TaskSpec(
            name=step.name,
            description=step.description,
            upstream=producers_of(step, members),
            gate=step.gate,
            outlets=tuple(assets_of[role_name] for role_name in step.emits),
            queue=orchestration.training_queue if step.queue == "training" else None,
        )
        for step in members
    )
    return DagSpec(
        dag_id=dag_id,
        role=role,
        file=f"dags/{dag_id}.py",
        schedule=ScheduleSpec(cron=cron, assets=tuple(assets)),
        start_date=orchestration.start_date,
        catchup=orchestration.catchup,
        max_active_runs=orchestration.max_active_runs,
        tags=tuple(sorted(orchestration.tags)),
        settings=TaskSettings(
            owner=orchestration.owner,
            retries=orchestration.retries,
            retry_delay_minutes=orchestration.retry_delay_minutes,
            execution_timeout_minutes=orchestration.execution_timeout_minutes,
            queue=orchestration.queue,
            pool=orchestration.pool,
            notify_failure=orchestration.notifications.failure_webhook is not None,
            task_runner=orchestration.task_runner,
            kubernetes=_kubernetes_spec(orchestration),
        ),
        tasks=tasks,
        edges=derive_edges(members),
    )


def _kubernetes_spec(orchestration: Any) -> KubernetesSpec | None:
    pods = orchestration.kubernetes
    if orchestration.task_runner != "kubernetes" or not pods.image:
        return None
    return KubernetesSpec(
        image=pods.image,
        namespace=pods.namespace,
        project_root=pods.project_root,
        image_pull_policy=pods.image_pull_policy,
        service_account=pods.service_account,
    )


def compile_plan(loaded: LoadedConfig, steps: tuple[StepDeclaration, ...] = STEPS) -> Plan:
    """Pure: validated config + the step catalogue -> Plan. Raises CompileError on contradictions."""
    from mlops_declare.compiler.checks import ensure_consistent

    problems = catalogue_problems(steps)
    if problems:
        raise CompileError([ConfigIssue("step catalogue", "", problem) for problem in problems])
    ensure_consistent(loaded)
    config = loaded.config
    dags = [dag for dag in (_dag(config, role, steps) for role in DAG_ROLES) if dag is not None]
    service_dir = "service"
    registry = config.registry.store_url.split("://", 1)[0]
    artifacts = [
        ArtifactSpec(
            name=output.name,
            kind=output.kind,
            location=output.location.format(
                home=config.project.home, run_id="{run_id}", registry=registry, service_dir=service_dir
            ),
            produced_by=step.name,
        )
        for step in steps
        for output in step.outputs
    ]
    service = service_spec(config, service_dir)
    plan = Plan(
        project=config.project.name,
        config_fingerprint=loaded.fingerprint,
        choices=dict(loaded.choices),
        steps=steps,
        edges=derive_edges(steps),
        artifacts=tuple(artifacts),
        dags=tuple(dags),
        service=service,
        config=loaded.snapshot,
    )
    return plan.model_copy(
        update={"fingerprint": fingerprint_of(plan.model_dump(mode="json", exclude={"fingerprint"}))}
    )
