"""The monitoring DAG's steps: `collect_window` -> `check_drift` + `check_performance` -> `act`.

Each returns a small JSON-able dict. The window itself never travels: `collect_window` names its
bounds (model version, first and last timestamp, rows) and the checks re-read exactly those rows
from the inference log (or the file), so tasks may run on different workers. `act` records the
check in the registry database, writes its reports, fires the alerts and returns the retrain
request (mlops_declare/contracts/seams.py) under `retrain` (null when none), with `retrain_requested` as the
gate for emitting the retrain Asset event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_declare.contracts.results import (
    DriftResult,
    ModelRef,
    MonitoringCheckResult,
    PerformanceResult,
    SnapshotResult,
    WindowBounds,
    WindowResult,
)
from mlops_declare.contracts.seams import RetrainRequest, Trigger
from mlops_declare.steps import StepContext, StepError

CURRENT_FILE_KEY = "current"
"""A manual run's conf may name a Parquet/CSV file to check instead of the inference log.

It arrives in the trigger's `extra` (`Trigger(kind="dag_run_conf", extra={"current": "file.parquet"})`,
see `mlops_declare.steps.airflow.trigger_of`), never at the trigger's top level.
"""


def _window(context: StepContext, collected: WindowResult) -> Any:
    from mlops_declare.monitor.window import empty_window, file_window, read_inference_window

    window = collected.window
    if collected.current_file:
        return file_window(context.resolve(collected.current_file))
    if not window.rows:
        return empty_window(window.source)
    start = datetime.fromisoformat(str(window.start))
    end = datetime.fromisoformat(str(window.end)) + timedelta(microseconds=1)
    return read_inference_window(context.home, collected.model.name, None, None, start, end)


def _current_file(trigger: Trigger | None) -> str | None:
    """The file a run's conf names under `current` (`trigger.extra["current"]`), if any."""
    if trigger is None:
        return None
    current = trigger.extra.get(CURRENT_FILE_KEY)
    if current is None:
        return None
    if not isinstance(current, str) or not current:
        raise StepError(
            f"the run's conf: {CURRENT_FILE_KEY!r} must be a path to a Parquet or CSV file, got {current!r}"
        )
    return current


def collect_window(context: StepContext, run_plan: SnapshotResult) -> WindowResult:
    """The served model and the bounds of the newest `monitoring.window.size_rows` served rows (or a file)."""
    from mlops_declare.monitor.check import load_model_reference
    from mlops_declare.monitor.errors import MonitoringError
    from mlops_declare.monitor.window import file_window, read_inference_window

    model = load_model_reference(context.loaded, context.project_root)
    current = _current_file(run_plan.trigger)
    if current:
        window = file_window(context.resolve(str(current)))
        return WindowResult(
            model=ModelRef(name=model.name, version=model.version),
            window=WindowBounds.model_validate(window.to_json()),
            current_file=str(current),
        )
    try:
        window = read_inference_window(
            context.home, model.name, None, context.loaded.config.monitoring.window.size_rows
        )
    except MonitoringError as exc:
        return WindowResult(
            model=ModelRef(name=model.name, version=model.version),
            window=WindowBounds(source="inference log", start=None, end=None, rows=0),
            message=str(exc),
        )
    return WindowResult(
        model=ModelRef(name=model.name, version=model.version), window=WindowBounds.model_validate(window.to_json())
    )


def check_drift(context: StepContext, window: WindowResult) -> DriftResult:
    """Data, prediction and multivariate drift of the collected window against the model's reference profile."""
    from mlops_declare.monitor.check import compact, drift_of, load_model_reference

    collected = window
    model = load_model_reference(context.loaded, context.project_root, collected.model.ref)
    rows = _window(context, collected)
    monitoring = context.loaded.config.monitoring
    if rows.table.num_rows < monitoring.window.min_rows:
        from mlops_declare.monitor.drift import DRIFT_FORMAT

        drift: dict[str, Any] = {
            "format": DRIFT_FORMAT,
            "status": "insufficient_data",
            "current": {"rows": rows.table.num_rows},
            "reference": {"rows": model.profile.rows},
            "message": f"{rows.table.num_rows} row(s), fewer than monitoring.window.min_rows = {monitoring.window.min_rows}; no verdict",
            "columns": [],
            "signals": [],
            "prediction": None,
            "multivariate": {},
            "drift": False,
            "dataset": {
                "tested": 0,
                "drifted": 0,
                "drifted_columns": [],
                "drift_share": 0.0,
                "threshold": monitoring.drift.drift_share,
                "dataset_drift": False,
                "correction": monitoring.drift.correction,
            },
        }
    else:
        drift = compact(drift_of(model.profile, rows, monitoring))
    return DriftResult(model=collected.model, window=collected.window, drift_result=drift)


def check_performance(context: StepContext, window: WindowResult) -> PerformanceResult:
    """Measured metrics on the labelled rows of the window, and the confidence-based estimate (null when not configured)."""
    from mlops_declare.monitor.check import load_model_reference, performance_of

    if context.loaded.config.monitoring.performance is None or not window.window.rows:
        return PerformanceResult(performance=None)
    model = load_model_reference(context.loaded, context.project_root, window.model.ref)
    return PerformanceResult(
        performance=performance_of(context.loaded, context.project_root, _window(context, window), model.class_names)
    )


def act(context: StepContext, drift_verdict: DriftResult, performance: PerformanceResult) -> MonitoringCheckResult:
    """Record the check, write its reports, alert, and return the retrain request (or null) under `retrain`."""
    from mlops_declare.monitor.check import settle_check

    result: dict[str, Any] = {
        "kind": "monitor",
        "model": drift_verdict.model.to_json(),
        "window": drift_verdict.window.to_json(),
        "drift_result": dict(drift_verdict.drift_result),
        "performance": performance.performance,
    }
    settled = settle_check(context.loaded, context.project_root, result)
    retrain = RetrainRequest.model_validate(settled["retrain"]) if settled["retrain"] is not None else None
    return MonitoringCheckResult(
        check_id=settled["check_id"],
        drift=settled["drift"],
        status=settled["drift_result"].get("status"),
        dataset_drift=bool(settled["drift_result"].get("dataset", {}).get("dataset_drift", False)),
        alerts=tuple(settled["alerts"]),
        reports={key: context.relative(Path(value)) for key, value in settled["reports"].items()},
        retrain=retrain,
        retrain_requested=retrain is not None,
        retrain_held_back=settled.get("retrain_held_back"),
        event=retrain.model_dump(mode="json") if retrain is not None else {},
    )
