"""The plan: a JSON-serialisable IR of steps, edges, artefacts and generated outputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_declare.config import LoadedConfig, fingerprint_of
from mlops_declare.config.data import declared_features

GENERATOR = "mlops-declare"
GENERATOR_VERSION = "0.1.0"

DagName = Literal["training", "monitoring"]


class StepSpec(BaseModel):
    """What the compiler knows about a step: its DAG, inputs, outputs and purpose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dag: DagName
    description: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


STEP_CATALOGUE: tuple[StepSpec, ...] = (
    StepSpec(name="snapshot_config", dag="training", description="Record the validated config and its fingerprint in the run directory.", outputs=("config_snapshot",)),
    StepSpec(name="ingest", dag="training", description="Load the sources, apply transforms, check expectations, split, fit preprocessing, profile.", inputs=("config_snapshot",), outputs=("dataset", "validation_report", "reference_profile", "preprocessing")),
    StepSpec(name="validate_data", dag="training", description="Stop the run when a `fail` expectation did not hold.", inputs=("validation_report",)),
    StepSpec(name="train", dag="training", description="Train with Lightning at the configured precision, prune, export the model package.", inputs=("dataset", "preprocessing"), outputs=("model_package",)),
    StepSpec(name="evaluate", dag="training", description="Compute torchmetrics metrics on val and test.", inputs=("model_package", "dataset"), outputs=("metrics",)),
    StepSpec(name="gate", dag="training", description="Compare the metrics with the stage gates.", inputs=("metrics",), outputs=("gate_decision",)),
    StepSpec(name="register", dag="training", description="Register the package with lineage in the model registry.", inputs=("model_package", "metrics"), outputs=("model_version",)),
    StepSpec(name="promote", dag="training", description="Promote the version through the configured gates.", inputs=("model_version", "gate_decision")),
    StepSpec(name="build_service", dag="training", description="Build the BentoML service for the promoted version.", inputs=("model_version",), outputs=("bento",)),
    StepSpec(name="deploy", dag="training", description="Roll the bento out per serving.rollout.", inputs=("bento",)),
    StepSpec(name="monitor", dag="monitoring", description="Compare recent inputs with the reference profile; alert and trigger retraining on drift.", inputs=("reference_profile",), outputs=("drift_report",)),
)
"""Every step the system knows, in pipeline order; a plan holds only the implemented ones."""


class ArtefactSpec(BaseModel):
    """A file or record a step produces, and where it lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: str
    location: str
    produced_by: str


class DagSpec(BaseModel):
    """One generated Airflow DAG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dag_id: str
    file: str
    schedule: str | None
    steps: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]


class ServiceSpec(BaseModel):
    """The generated BentoML service project."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    directory: str
    inputs: tuple[str, ...] | None
    """Request fields; None when only the data can tell (inferred features)."""


class Plan(BaseModel):
    """Everything `compile` derives from the config; plan.json is this, serialised."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generator: str = GENERATOR
    generator_version: str = GENERATOR_VERSION
    project: str
    config_fingerprint: str
    choices: dict[str, str | None]
    steps: tuple[StepSpec, ...]
    edges: tuple[tuple[str, str], ...]
    artefacts: tuple[ArtefactSpec, ...]
    dags: tuple[DagSpec, ...]
    service: ServiceSpec
    config: dict[str, Any] = Field(repr=False)
    """The validated config snapshot (secrets as `${oc.env:VAR}` references)."""
    fingerprint: str = ""
    """sha256 of the canonical JSON of everything above."""

    def to_json(self) -> str:
        import json

        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


ARTEFACT_KINDS = {
    "config_snapshot": ("json", "{home}/runs/{run_id}/config.json"),
    "dataset": ("parquet", "{home}/runs/{run_id}/data"),
    "validation_report": ("json", "{home}/runs/{run_id}/data/validation_report.json"),
    "reference_profile": ("json", "{home}/runs/{run_id}/data/profile.json"),
    "preprocessing": ("json", "{home}/runs/{run_id}/data/preprocessing.json"),
    "model_package": ("directory", "{home}/runs/{run_id}/model"),
    "metrics": ("json", "{home}/runs/{run_id}/model/metrics.json"),
    "gate_decision": ("json", "{home}/runs/{run_id}/steps/gate.json"),
    "model_version": ("registry", "{registry}"),
    "bento": ("bento", "{service_dir}"),
    "drift_report": ("json", "{home}/monitoring/{run_id}/drift.json"),
}


def _edges(steps: list[StepSpec]) -> list[tuple[str, str]]:
    """Each step depends on the nearest earlier step of the same DAG."""
    edges: list[tuple[str, str]] = []
    last: dict[str, str] = {}
    for step in steps:
        if step.dag in last:
            edges.append((last[step.dag], step.name))
        last[step.dag] = step.name
    return edges


def compile_plan(loaded: LoadedConfig, implemented: Iterable[str]) -> Plan:
    """Pure: validated config + the names of implemented steps -> Plan. Raises CompileError on contradictions."""
    from mlops_declare.compiler.checks import ensure_consistent

    ensure_consistent(loaded)
    config = loaded.config
    available = set(implemented)
    steps = [step for step in STEP_CATALOGUE if step.name in available]
    edges = _edges(steps)
    prefix = config.orchestration.dag_prefix
    schedules = {
        "training": config.orchestration.training_schedule,
        "monitoring": config.orchestration.monitoring_schedule,
    }
    dags = []
    for dag_name in ("training", "monitoring"):
        dag_steps = tuple(step.name for step in steps if step.dag == dag_name)
        if not dag_steps:
            continue
        dag_id = f"{prefix}_{dag_name}"
        dags.append(
            DagSpec(
                dag_id=dag_id,
                file=f"dags/{dag_id}.py",
                schedule=schedules[dag_name],
                steps=dag_steps,
                edges=tuple(edge for edge in edges if edge[0] in dag_steps),
            )
        )
    service_dir = "service"
    registry = config.registry.store_url.split("://", 1)[0]
    artefacts = [
        ArtefactSpec(
            name=output,
            kind=ARTEFACT_KINDS[output][0],
            location=ARTEFACT_KINDS[output][1].format(
                home=config.project.home, run_id="{run_id}", registry=registry, service_dir=service_dir
            ),
            produced_by=step.name,
        )
        for step in steps
        for output in step.outputs
    ]
    features = declared_features(config.data)
    inputs = tuple(config.serving.inputs) or (tuple(feature.name for feature in features) if features else None)
    service = ServiceSpec(
        name=config.serving.service_name,
        model=config.serving.model or f"{config.model.name}@production",
        directory=service_dir,
        inputs=inputs,
    )
    plan = Plan(
        project=config.project.name,
        config_fingerprint=loaded.fingerprint,
        choices=dict(loaded.choices),
        steps=tuple(steps),
        edges=tuple(edges),
        artefacts=tuple(artefacts),
        dags=tuple(dags),
        service=service,
        config=loaded.snapshot,
    )
    return plan.model_copy(update={"fingerprint": fingerprint_of(plan.model_dump(mode="json", exclude={"fingerprint"}))})
