"""The step catalogue: every step declared once (DAGs, inputs, outputs, result, function, gate, events).

The compiler derives each DAG's edges from inputs and outputs (a step runs after the steps that
produce what it reads); the runners bind a step's inputs by name: the function is called as
`function(context, **{input: <the producer's typed result>})` and returns the declared result
model (`mlops_declare.contracts.results`). The runners import the function only when they run it,
so compiling never imports torch, Airflow or BentoML. Adding a step means adding one declaration
here, its result model, and its function.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlops_declare.contracts.results import RESULT_MODELS

DagRole = Literal["training", "monitoring"]
"""The generated DAGs; the DAG id is `<orchestration.dag_prefix>_<role>`."""

DAG_ROLES: tuple[DagRole, ...] = ("training", "monitoring")

AssetRole = Literal["promoted", "retrain"]
"""Airflow Assets a step can emit events on (URIs in `mlops_declare.contracts.seams`)."""

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
    dags: tuple[DagRole, ...]
    """The DAGs this step is a task of (`snapshot_config` is the root of both)."""
    function: str
    """`module:function` taking a StepContext and one keyword argument per input; returns `result`."""
    result: str
    """Name of the result model in `mlops_declare.contracts.results.RESULT_MODELS`."""
    description: str
    inputs: tuple[str, ...] = ()
    """Names of outputs of earlier steps this step reads; each is passed to the function under its
    name, as the typed result of the step producing it (XCom or memory)."""
    outputs: tuple[Output, ...] = ()
    gate: str | None = None
    """Boolean field of the result that must be true for the steps after this one to run; false ends
    the run as an outcome (Airflow short-circuit: the later tasks are skipped, not failed)."""
    emits: tuple[AssetRole, ...] = ()
    """Assets this step emits an event on when it succeeds; the event's extra is the result's
    `event` entry."""
    queue: Literal["default", "training"] = "default"
    """`training` puts the task on `orchestration.training_queue` (e.g. GPU workers)."""


STEPS: tuple[StepDeclaration, ...] = (
    StepDeclaration(
        name="snapshot_config",
        dags=("training", "monitoring"),
        function="mlops_declare.steps.core:snapshot_config",
        result="SnapshotResult",
        description="Snapshot the compiled plan into the run folder; every later task of the run reads that copy.",
        outputs=(Output(name="run_plan", kind="json", location="{home}/runs/{run_id}/plan.json"),),
    ),
    StepDeclaration(
        name="ingest",
        dags=("training",),
        function="mlops_declare.steps.data:ingest",
        result="DatasetResult",
        description="Load the sources, apply transforms, check expectations, split, fit preprocessing, profile.",
        inputs=("run_plan",),
        outputs=(Output(name="dataset", kind="directory", location="{home}/runs/{run_id}/data"),),
    ),
    StepDeclaration(
        name="validate_data",
        dags=("training",),
        function="mlops_declare.steps.data:validate_data",
        result="ValidationResult",
        description="Re-check the written dataset against its fingerprint; stop the run when a `fail` expectation did not hold.",
        inputs=("dataset",),
        outputs=(Output(name="validation_report", kind="json", location="{home}/runs/{run_id}/data/report.json"),),
    ),
    StepDeclaration(
        name="train",
        dags=("training",),
        function="mlops_declare.steps.train:train",
        result="TrainResult",
        description="Train with Lightning at the configured precision, prune, export the model package.",
        inputs=("dataset", "validation_report"),
        outputs=(Output(name="model_package", kind="directory", location="{home}/runs/{run_id}/model"),),
        queue="training",
    ),
    StepDeclaration(
        name="evaluate",
        dags=("training",),
        function="mlops_declare.steps.train:evaluate",
        result="EvaluationResult",
        description="Reload the package as serving does and score val and test with torchmetrics.",
        inputs=("model_package", "dataset"),
        outputs=(Output(name="evaluation", kind="json", location="{home}/runs/{run_id}/evaluation.json"),),
    ),
    StepDeclaration(
        name="register",
        dags=("training",),
        function="mlops_declare.steps.registry:register",
        result="RegistrationResult",
        description="Register the evaluated package with its metrics and lineage in the model registry.",
        inputs=("evaluation", "model_package", "dataset"),
        outputs=(Output(name="model_version", kind="registry", location="{registry}"),),
    ),
    StepDeclaration(
        name="promote",
        dags=("training",),
        function="mlops_declare.steps.registry:promote",
        result="PromotionResult",
        description="Gate the version into each `registry.auto_promote` stage; a refusal ends the run as not promoted.",
        inputs=("model_version", "dataset"),
        outputs=(Output(name="promotion", kind="registry", location="{registry}"),),
        gate="blessed",
    ),
    StepDeclaration(
        name="deploy",
        dags=("training",),
        function="mlops_declare.steps.deploy:deploy",
        result="DeploymentResult",
        description="Build the bento of the version holding the served label and record the deployment; running services swap to it.",
        inputs=("promotion",),
        outputs=(Output(name="bento", kind="bento", location="{service_dir}"),),
        emits=("promoted",),
    ),
    StepDeclaration(
        name="collect_window",
        dags=("monitoring",),
        function="mlops_declare.steps.monitor:collect_window",
        result="WindowResult",
        description="The served model and the bounds of the newest monitoring window of the inference log (or a file).",
        inputs=("run_plan",),
        outputs=(Output(name="window", kind="json", location="{home}/inferences"),),
    ),
    StepDeclaration(
        name="check_drift",
        dags=("monitoring",),
        function="mlops_declare.steps.monitor:check_drift",
        result="DriftResult",
        description="Data, prediction and multivariate drift of the window against the model's reference profile.",
        inputs=("window",),
        outputs=(Output(name="drift_verdict", kind="json", location="{home}/runs/{run_id}/steps/check_drift.json"),),
    ),
    StepDeclaration(
        name="check_performance",
        dags=("monitoring",),
        function="mlops_declare.steps.monitor:check_performance",
        result="PerformanceResult",
        description="Measured metrics on the labelled rows of the window and the confidence-based estimate.",
        inputs=("window",),
        outputs=(
            Output(name="performance", kind="json", location="{home}/runs/{run_id}/steps/check_performance.json"),
        ),
    ),
    StepDeclaration(
        name="act",
        dags=("monitoring",),
        function="mlops_declare.steps.monitor:act",
        result="MonitoringCheckResult",
        description="Record the check, write its reports, alert, decide on a retrain (at most one per min_retrain_interval_hours).",
        inputs=("drift_verdict", "performance"),
        outputs=(Output(name="monitoring_check", kind="database", location="{registry}"),),
        gate="retrain_requested",
    ),
    StepDeclaration(
        name="request_retrain",
        dags=("monitoring",),
        function="mlops_declare.steps.retrain:request_retrain",
        result="RetrainResult",
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
            elif not set(step.dags) <= set(producer.dags):
                problems.append(
                    f"step {step.name!r} ({', '.join(step.dags)}) reads {item!r} from step {producer.name!r}, "
                    f"which is not in every one of its DAGs ({', '.join(producer.dags)}); DAGs meet only through Assets and the registry"
                )
        for output in step.outputs:
            if output.name in producers:
                problems.append(
                    f"output {output.name!r} is produced by both {producers[output.name].name!r} and {step.name!r}"
                )
            producers[output.name] = step
        problems += _result_problems(step)
    return problems


def _result_problems(step: StepDeclaration) -> list[str]:
    model = RESULT_MODELS.get(step.result)
    if model is None:
        return [
            f"step {step.name!r} returns {step.result!r}, which is not a result model in mlops_declare.contracts.results"
        ]
    if step.gate is not None and (
        step.gate not in model.model_fields or model.model_fields[step.gate].annotation is not bool
    ):
        return [f"step {step.name!r} gates on {step.gate!r}, which is not a bool field of {step.result}"]
    return []


def steps_of(role: DagRole, steps: tuple[StepDeclaration, ...] = ()) -> tuple[StepDeclaration, ...]:
    """The steps of one DAG, in catalogue order."""
    return tuple(step for step in (steps or STEPS) if role in step.dags)


def input_producers(step: StepDeclaration, steps: tuple[StepDeclaration, ...]) -> dict[str, str]:
    """Input name -> the step producing it: how a runner binds the function's keyword arguments."""
    producer = {output.name: other.name for other in steps for output in other.outputs}
    return {item: producer[item] for item in step.inputs if item in producer}


def transitive_reduction(edges: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """`edges` without those implied by a longer path (a >> c dropped when a >> b >> c): what a DAG draws."""
    children: dict[str, set[str]] = {}
    for upstream, downstream in edges:
        children.setdefault(upstream, set()).add(downstream)

    def reachable(start: str, skip: tuple[str, str]) -> set[str]:
        seen: set[str] = set()
        stack = [child for child in children.get(start, ()) if (start, child) != skip]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(children.get(node, ()))
        return seen

    return tuple(edge for edge in edges if edge[1] not in reachable(edge[0], edge))


def producers_of(step: StepDeclaration, steps: tuple[StepDeclaration, ...]) -> tuple[str, ...]:
    """Names of the steps whose outputs `step` reads, in catalogue order."""
    wanted = set(step.inputs)
    return tuple(other.name for other in steps if wanted & {output.name for output in other.outputs})
