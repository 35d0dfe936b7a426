"""What each step returns: one small typed model per step, validated wherever it crosses a process
boundary (XCom between Airflow tasks, a pod's return file, the local runner's hand-over).

Large artefacts never travel here: a result names where they are (a folder relative to the project
root, a registry reference). `event` is the extra of any Asset event the step's task emits.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops_declare.contracts.seams import LogicalDateSource, RetrainRequest, Trigger


class StepResult(BaseModel):
    """Base of every step result: frozen, no unknown keys, JSON in and out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class SnapshotResult(StepResult):
    """`snapshot_config`: the run's own copy of the plan, which every later task of the run reads."""

    plan_path: str
    plan_fingerprint: str
    config_fingerprint: str
    choices: dict[str, str | None]
    logical_date: str
    logical_date_source: LogicalDateSource
    trigger: Trigger | None


class DatasetResult(StepResult):
    """`ingest`: the prepared dataset folder (layout in `contracts.layouts`)."""

    dataset_dir: str
    fingerprint: str
    features: tuple[str, ...]
    target: str | None
    task_hint: str | None
    rows: dict[str, Any]


class ValidationResult(StepResult):
    """`validate_data`: the validation outcome of the prepared dataset (a failed `fail` expectation raises instead)."""

    fingerprint: str
    outcome: str
    expectations: dict[str, int]
    warnings: tuple[str, ...]
    quarantined_rows: int
    report_path: str
    dataset_dir: str


class TrainResult(StepResult):
    """`train`: the model package written for this run, and how training went."""

    package_dir: str | None
    metrics: dict[str, dict[str, float]]
    precision_used: str
    precision: dict[str, Any]
    objective: str
    objective_value: float | None
    epochs_trained: int
    weights_from: str | None
    best_checkpoint: str | None
    pruning: dict[str, Any] | None
    dataset_fingerprint: str
    validation_warnings: tuple[str, ...] = ()
    """The `warn` expectations the dataset broke (from `validate_data`), carried next to the model they fed."""
    pruning_report_path: str | None = None


class EvaluationResult(StepResult):
    """`evaluate`: the reloaded package's val and test metrics (equal to training's within tolerance)."""

    package_dir: str
    metrics: dict[str, dict[str, float]]
    objective: str
    evaluated_on: str


class RegistrationResult(StepResult):
    """`register`: the new registry version."""

    name: str
    version: int
    ref: str
    manifest_sha256: str
    metrics: dict[str, dict[str, float]]


class PromotionResult(StepResult):
    """`promote`: which `registry.auto_promote` stages the version entered; `blessed` is the gate."""

    ref: str
    blessed: bool
    promoted: tuple[str, ...] = ()
    already_held: tuple[str, ...] = ()
    refused: dict[str, dict[str, Any]] = Field(default_factory=dict)
    holders_rescored_on_this_data: dict[str, str] = Field(default_factory=dict)
    event: dict[str, Any] = Field(default_factory=dict)


class DeploymentResult(StepResult):
    """`deploy`: whether the candidate is what now serves, and the bento of what serves."""

    deployed: bool
    """True only when the candidate is the version the served reference now names and its bento exists."""
    candidate: str
    serving: str
    """The served reference (e.g. `digits@production`)."""
    serving_version: int | None = None
    tag: str | None = None
    path: str | None = None
    rebuilt: bool = False
    """Whether this step built the bento (False when an identical bento already existed)."""
    reason: str | None = None
    event: dict[str, Any] = Field(default_factory=dict)


class ModelRef(StepResult):
    """A registered version: `name:version`."""

    name: str
    version: int

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


class WindowBounds(StepResult):
    """Which rows a monitoring window holds: the checks re-read exactly these (the rows never travel)."""

    source: str
    start: str | None
    end: str | None
    rows: int


class WindowResult(StepResult):
    """`collect_window`: the served model and the bounds of the window to check."""

    model: ModelRef
    window: WindowBounds
    current_file: str | None = None
    message: str | None = None


class DriftResult(StepResult):
    """`check_drift`: the drift verdict of the window against the model's reference profile."""

    model: ModelRef
    window: WindowBounds
    drift_result: dict[str, Any]
    """The drift report (format `mlops_declare.drift/1`, compacted: per-column statistics, verdicts, thresholds)."""


class PerformanceResult(StepResult):
    """`check_performance`: measured and estimated metrics of the window (null when not configured or no rows)."""

    performance: dict[str, Any] | None


class MonitoringCheckResult(StepResult):
    """`act`: the recorded check; `retrain_requested` is the gate for emitting the retrain Asset event."""

    check_id: int | None
    drift: bool
    status: str | None
    dataset_drift: bool
    alerts: tuple[dict[str, Any], ...] = ()
    reports: dict[str, str] = Field(default_factory=dict)
    retrain: RetrainRequest | None = None
    retrain_requested: bool
    retrain_held_back: str | None = None
    """Why a retrain the check warrants was not requested (`min_retrain_interval_hours`), if it was held back."""
    event: dict[str, Any] = Field(default_factory=dict)


class RetrainResult(StepResult):
    """`request_retrain`: the retrain request emitted as the retrain Asset event's extra."""

    requested: bool
    reason: str
    event: dict[str, Any]


RESULT_MODELS: dict[str, type[StepResult]] = {
    model.__name__: model
    for model in (
        SnapshotResult,
        DatasetResult,
        ValidationResult,
        TrainResult,
        EvaluationResult,
        RegistrationResult,
        PromotionResult,
        DeploymentResult,
        WindowResult,
        DriftResult,
        PerformanceResult,
        MonitoringCheckResult,
        RetrainResult,
    )
}
"""Result model by name: what the step catalogue's `result` refers to."""
