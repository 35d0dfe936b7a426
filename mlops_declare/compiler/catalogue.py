"""The step catalogue: every step declared once (DAG, inputs, outputs, function, gate, events).

The compiler derives each DAG's edges from inputs and outputs (a step runs after the steps that
produce what it reads); the local runner and the generated Airflow tasks import the step's
function from `function` only when they run it, so compiling never imports torch, Airflow or
BentoML. Adding a step means adding one declaration here and writing its function.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DagRole = Literal["training", "monitoring"]
"""The generated DAGs; the DAG id is `<orchestration.dag_prefix>_<role>`."""

DAG_ROLES: tuple[DagRole, ...] = ("training", "monitoring")

AssetRole = Literal["promoted", "retrain"]
"""Airflow Assets a step can emit events on (URIs in `mlops_declare.seams`)."""

ArtifactKind = Literal["json", "parquet", "directory", "registry", "bento", "database", "inference_log", "event"]


class Output(BaseModel):
    """Something a step produces that later steps (or the user) use: its kind and where it lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: ArtifactKind
    location: str
    """Where it lives; `{home}`, `{run_id}`, `{registry}` and `{service_dir}` are filled in by the compiler."""


class StepDeclaration(BaseModel):
    """One step: the single source for the compiler, the local runner and the generated DAG tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dag: DagRole
    function: str
    """`module:function` taking a StepContext and returning a small JSON-able dict."""
    description: str
    inputs: tuple[str, ...] = ()
    """Names of outputs of earlier steps this step reads; the producers' results reach it (XCom or memory)."""
    outputs: tuple[Output, ...] = ()
    gate: str | None = None
    """Key of the result that must be true for the steps after this one to run; false ends the run
    as an outcome (Airflow short-circuit: the later tasks are skipped, not failed)."""
    emits: tuple[AssetRole, ...] = ()
    """Assets this step emits an event on when it succeeds; the event's extra is the result's
    `event` entry."""
    queue: Literal["default", "training"] = "default"
    """`training` puts the task on `orchestration.training_queue` (e.g. GPU workers)."""


STEPS: tuple[StepDeclaration, ...] = (
    StepDeclaration(
        name="snapshot_config",
        dag="training",
        function="mlops_declare.steps.core:snapshot_config",
        description="Record the validated config (secrets as references) and its fingerprint in the run directory.",
        outputs=(Output(name="config_snapshot", kind="json", location="{home}/runs/{run_id}/config.json"),),
    ),
    StepDeclaration(
        name="ingest",
        dag="training",
        function="mlops_declare.steps.data:ingest",
        description="Load the sources, apply transforms, check expectations, split, fit preprocessing, profile.",
        outputs=(Output(name="dataset", kind="directory", location="{home}/runs/{run_id}/data"),),
    ),
    StepDeclaration(
        name="validate_data",
        dag="training",
        function="mlops_declare.steps.data:validate_data",
        description="Re-check the written dataset against its fingerprint; stop the run when a `fail` expectation did not hold.",
        inputs=("dataset",),
        outputs=(Output(name="validation_report", kind="json", location="{home}/runs/{run_id}/data/report.json"),),
    ),
    StepDeclaration(
        name="train",
        dag="training",
        function="mlops_declare.steps.train:train",
        description="Train with Lightning at the configured precision, prune, export the model package.",
        inputs=("dataset", "validation_report"),
        outputs=(Output(name="model_package", kind="directory", location="{home}/runs/{run_id}/model"),),
        queue="training",
    ),
    StepDeclaration(
        name="evaluate",
        dag="training",
        function="mlops_declare.steps.train:evaluate",
        description="Reload the package as serving does and score val and test with torchmetrics.",
        inputs=("model_package", "dataset"),
        outputs=(Output(name="evaluation", kind="json", location="{home}/runs/{run_id}/evaluation.json"),),
    ),
    StepDeclaration(
        name="register",
        dag="training",
        function="mlops_declare.steps.registry:register",
        description="Register the evaluated package with its metrics and lineage in the model registry.",
        inputs=("evaluation", "model_package", "dataset"),
        outputs=(Output(name="model_version", kind="registry", location="{registry}"),),
    ),
    StepDeclaration(
        name="promote",
        dag="training",
        function="mlops_declare.steps.registry:promote",
        description="Gate the version into each `registry.auto_promote` stage; a refusal ends the run as not promoted.",
        inputs=("model_version", "dataset"),
        outputs=(Output(name="promotion", kind="registry", location="{registry}"),),
        gate="blessed",
    ),
    StepDeclaration(
        name="deploy",
        dag="training",
        function="mlops_declare.steps.deploy:deploy",
        description="Build the bento of the version holding the served label and record the deployment; running services swap to it.",
        inputs=("promotion",),
        outputs=(Output(name="bento", kind="bento", location="{service_dir}"),),
        emits=("promoted",),
    ),
    StepDeclaration(
        name="collect_window",
        dag="monitoring",
        function="mlops_declare.steps.monitor:collect_window",
        description="The served model and the bounds of the newest monitoring window of the inference log (or a file).",
        outputs=(Output(name="window", kind="json", location="{home}/inferences"),),
    ),
    StepDeclaration(
        name="check_drift",
        dag="monitoring",
        function="mlops_declare.steps.monitor:check_drift",
        description="Data, prediction and multivariate drift of the window against the model's reference profile.",
        inputs=("window",),
        outputs=(Output(name="drift_verdict", kind="json", location="{home}/runs/{run_id}/steps/check_drift.json"),),
    ),
    StepDeclaration(
        name="check_performance",
        dag="monitoring",
        function="mlops_declare.steps.monitor:check_performance",
        description="Measured metrics on the labelled rows of the window and the confidence-based estimate.",
        inputs=("window",),
        outputs=(
            Output(name="performance", kind="json", location="{home}/runs/{run_id}/steps/check_performance.json"),
        ),
    ),
    StepDeclaration(
        name="act",
        dag="monitoring",
        function="mlops_declare.steps.monitor:act",
        description="Record the check, write its reports, alert, decide on a retrain (at most one per min_retrain_interval_hours).",
        inputs=("drift_verdict", "performance"),
        outputs=(Output(name="monitoring_check", kind="database", location="{registry}"),),
        gate="retrain_requested",
    ),
    StepDeclaration(
        name="request_retrain",
        dag="monitoring",
        function="mlops_declare.steps.retrain:request_retrain",
        description="Emit the retrain Asset event carrying the RetrainRequest; the training DAG is scheduled on it.",
        inputs=("monitoring_check",),
        emits=("retrain",),
    ),
)
"""Every implemented step, in the order the local runner runs them (a topological order)."""


def catalogue_problems(steps: tuple[StepDeclaration, ...]) -> list[str]:
    """What makes a catalogue unusable: duplicate names or outputs, inputs nobody produces, cycles, cross-DAG reads."""
    problems: list[str] = []
    names = [step.name for step in steps]
    problems += [f"step {name!r} is declared twice" for name in sorted({n for n in names if names.count(n) > 1})]
    producers: dict[str, StepDeclaration] = {}
    for position, step in enumerate(steps):
        for item in step.inputs:
            producer = producers.get(item)
            if producer is None:
                later = [other.name for other in steps[position:] if item in {o.name for o in other.outputs}]
                problems.append(
                    f"step {step.name!r} reads {item!r}, which "
                    + (f"step {later[0]!r} produces only later" if later else "no step produces")
                )
            elif producer.dag != step.dag:
                problems.append(
                    f"step {step.name!r} ({step.dag}) reads {item!r} from the {producer.dag} DAG; DAGs meet only through Assets and the registry"
                )
        for output in step.outputs:
            if output.name in producers:
                problems.append(
                    f"output {output.name!r} is produced by both {producers[output.name].name!r} and {step.name!r}"
                )
            producers[output.name] = step
    return problems


def producers_of(step: StepDeclaration, steps: tuple[StepDeclaration, ...]) -> tuple[str, ...]:
    """Names of the steps whose outputs `step` reads, in catalogue order."""
    wanted = set(step.inputs)
    return tuple(other.name for other in steps if wanted & {output.name for output in other.outputs})
