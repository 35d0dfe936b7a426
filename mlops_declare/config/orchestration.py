"""Schema of the `orchestration` group: schedules, triggers, retries, task runner."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlops_declare.config.base import Name, NonNegativeInt, PositiveInt, StrictModel

SCHEDULE_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
"""Airflow's schedule presets; anything else must be a five-field cron expression."""


class Triggers(StrictModel):
    """What starts a retraining run besides the schedule."""

    new_data: bool = False
    """Retrain when the `data_asset` is updated (Airflow asset-aware scheduling)."""
    data_asset: str | None = None
    """URI of the asset whose update means new data, e.g. file:///data/incoming."""
    drift: bool = True
    """Retrain when the monitoring DAG detects dataset drift."""
    min_retrain_interval_hours: Annotated[float, Field(ge=0)] = 24.0
    """Least time between two drift-triggered retrains (a persistent drift does not retrain in a loop); 0 for none."""


class Notifications(StrictModel):
    """Where a failed task is reported."""

    failure_webhook: str | None = None
    """URL a failed task POSTs a JSON message to; put it (or its token) in `${oc.env:VAR}` so it never lands in a generated file."""
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """How long one POST may take; a webhook that fails is logged, never fails the task twice."""


class Kubernetes(StrictModel):
    """How each step runs when `task_runner: kubernetes` (one pod per task, KubernetesPodOperator)."""

    image: str | None = None
    """Container image holding the project and mlops-declare (e.g. built from the project); required for kubernetes."""
    namespace: str = "default"
    """Namespace the pods run in."""
    project_root: str = "/project"
    """Where the project (conf/, dags/) lives inside the image."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """Pull policy of the step pods."""
    service_account: str | None = None
    """Service account of the step pods; the namespace default when unset."""


class OrchestrationConfig(StrictModel):
    """The generated Airflow DAGs."""

    dag_prefix: Name = "mlops"
    """Prefix of the generated DAG ids."""
    owner: str = Field(default="mlops", min_length=1)
    """DAG owner."""
    training_schedule: str | None = "@weekly"
    """Cron expression or preset for retraining; none for trigger-only."""
    monitoring_schedule: str | None = "@daily"
    """Cron expression or preset for drift checks; none disables the monitoring DAG's schedule."""
    start_date: str = Field(default="2026-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    """First logical date (YYYY-MM-DD)."""
    catchup: bool = False
    """Run every missed interval since `start_date`."""
    retries: NonNegativeInt = 2
    """Retries per task."""
    retry_delay_minutes: PositiveInt = 5
    """Wait between retries."""
    execution_timeout_minutes: Annotated[int, Field(gt=0)] = 120
    """Longest a single task may run."""
    max_active_runs: PositiveInt = 1
    """Concurrent runs per DAG."""
    task_runner: Literal["local", "celery", "kubernetes"] = "local"
    """Executor the DAGs are meant for; `kubernetes` renders each step as a KubernetesPodOperator running `kubernetes.image`."""
    kubernetes: Kubernetes = Field(default_factory=Kubernetes)
    """Pod settings when `task_runner: kubernetes`."""
    notifications: Notifications = Field(default_factory=Notifications)
    """Failure notifications of the generated DAGs' tasks."""
    backfill_moves_stages: bool = False
    """Whether a backfill run may move a single-holder stage (e.g. production); off, its promote step only registers."""
    queue: str | None = None
    """Celery queue for the tasks."""
    training_queue: str | None = None
    """Celery queue for the `train` step (e.g. GPU workers); the tasks' queue when unset."""
    pool: str | None = None
    """Airflow pool every task runs in (limits concurrent tasks across DAGs); Airflow's default pool when unset."""
    tags: list[str] = Field(default_factory=lambda: ["mlops_declare"])
    """DAG tags in the Airflow UI."""
    triggers: Triggers = Field(default_factory=Triggers)
    """Extra retraining triggers."""

    @model_validator(mode="after")
    def _kubernetes_has_image(self) -> OrchestrationConfig:
        if self.task_runner == "kubernetes" and not self.kubernetes.image:
            raise ValueError(
                "task_runner is kubernetes but kubernetes.image is not set; name the image the step pods run"
            )
        return self

    @field_validator("training_schedule", "monitoring_schedule")
    @classmethod
    def _valid_schedule(cls, schedule: str | None) -> str | None:
        if schedule is None:
            return None
        problem = schedule_problem(schedule)
        if problem:
            raise ValueError(problem)
        return schedule


_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_CRON_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}


def schedule_problem(schedule: str) -> str | None:
    """Why `schedule` is not an Airflow preset or five-field cron expression, or None if it is."""
    if schedule.startswith("@"):
        if schedule in SCHEDULE_PRESETS:
            return None
        return f"{schedule!r} is not a schedule preset; allowed: {', '.join(SCHEDULE_PRESETS)}"
    fields = schedule.split()
    if len(fields) != 5:
        return f"{schedule!r} is not a cron expression: expected 5 fields (minute hour day month weekday), got {len(fields)}"
    for index, field in enumerate(fields):
        if not _cron_field_ok(field, index):
            low, high = _CRON_RANGES[index]
            return f"{schedule!r}: cron {_CRON_FIELDS[index]} field {field!r} is invalid (values {low}-{high})"
    return None


def _cron_field_ok(field: str, index: int) -> bool:
    low, high = _CRON_RANGES[index]
    names = _CRON_NAMES.get(index, ())
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2:
            return False
        for bound in bounds:
            if bound.lower() in names:
                continue
            if not bound.isdigit() or not low <= int(bound) <= high:
                return False
    return True
