"""Compile: validated config + the step catalogue -> the Plan (declared in `mlops_declare.contracts.plan`)."""

from __future__ import annotations

from typing import Any

from mlops_declare.config import LoadedConfig, ProjectConfig, fingerprint_of
from mlops_declare.config.data import declared_features
from mlops_declare.contracts.layouts import default_served_reference
from mlops_declare.contracts.plan import (
    GENERATOR,
    GENERATOR_VERSION,
    ArtifactSpec,
    DagSpec,
    KubernetesSpec,
    Plan,
    ScheduleSpec,
    TaskSettings,
    TaskSpec,
)
from mlops_declare.contracts.seams import promoted_asset_uri, retrain_asset_uri
from mlops_declare.contracts.service import FeatureSpec, ServiceSpec
from mlops_declare.contracts.steps import (
    DAG_ROLES,
    STEPS,
    DagRole,
    StepDeclaration,
    catalogue_problems,
    producers_of,
    steps_of,
    transitive_reduction,
)
from mlops_declare.errors import CompileError, ConfigIssue

__all__ = [
    "GENERATOR",
    "GENERATOR_VERSION",
    "DagSpec",
    "FeatureSpec",
    "Plan",
    "ServiceSpec",
    "compile_plan",
    "service_spec",
]


def service_spec(config: ProjectConfig, directory: str, registry: dict[str, Any] | None = None) -> ServiceSpec:
    """The typed service description the BentoML renderer and the serving runtime read."""
    import re

    from mlops_declare.config.data import GeneratedSource
    from mlops_declare.contracts.seams import INFERENCE_LOG_FOLDER

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
        model=serving.model or default_served_reference(config.model.name),
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
        project=config.project.name,
        registry=dict(registry or {}),
    )


def derive_edges(steps: tuple[StepDeclaration, ...]) -> tuple[tuple[str, str], ...]:
    """(producer, consumer) for every input a step reads; the graph the DAGs and the local runner follow."""
    return tuple((producer, step.name) for step in steps for producer in producers_of(step, steps))


def _dag(config: ProjectConfig, role: DagRole, steps: tuple[StepDeclaration, ...]) -> DagSpec | None:
    members = steps_of(role, steps)
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
        # Drift-triggered retraining: the monitoring DAG emits this Asset (see mlops_declare.contracts.seams).
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
        edges=transitive_reduction(derive_edges(members)),
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
    service = _with_fingerprint(service_spec(config, service_dir, loaded.snapshot.get("registry")), config.project.name)
    dags = [_with_fingerprint(dag, config.project.name) for dag in dags]
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


def _with_fingerprint(spec: Any, project: str) -> Any:
    """`spec` with its `fingerprint` set: sha256 of the project name and the spec's canonical JSON."""
    body = spec.model_dump(mode="json", exclude={"fingerprint"})
    return spec.model_copy(update={"fingerprint": fingerprint_of({"project": project, "spec": body})})
