"""The whole monitoring check, shared by `mlops-declare drift`/`monitor` and the monitoring DAG's
steps: reference (a registered model's package or a file), current window (inference log or a
file), data/prediction/multivariate drift, performance, the record in the registry database,
reports, alerts and the retrain request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_declare.config import LoadedConfig
from mlops_declare.config.monitoring import MonitoringConfig
from mlops_declare.data.profile import ReferenceProfile, load_reference_profile
from mlops_declare.monitor.actions import (
    fire_alerts,
    in_airflow,
    needs_attention,
    retrain_reason,
    retrain_request,
    write_retrain_request,
)
from mlops_declare.monitor.drift import check_drift
from mlops_declare.monitor.errors import MonitoringError
from mlops_declare.monitor.window import Window

REPORTS_FOLDER = "monitoring/reports"
"""Under `project.home`: `<check id>.json` and `<check id>.html` of every recorded check."""


@dataclass(frozen=True)
class ModelReference:
    """A registered version and what its package carries for monitoring."""

    name: str
    version: int
    profile: ReferenceProfile
    class_names: list[str] | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


def default_model_ref(loaded: LoadedConfig) -> str:
    """What the service follows: `serving.model`, else `<model.name>@production`."""
    return loaded.config.serving.model or f"{loaded.config.model.name}@production"


def load_model_reference(loaded: LoadedConfig, project_root: Path, ref: str | None = None) -> ModelReference:
    """Resolve `ref` in the registry and read the reference profile its package carries."""
    from mlops_declare.registry import Registry

    reference = ref or default_model_ref(loaded)
    with Registry.from_config(loaded.config.registry, project_root) as registry:
        version = registry.resolve(reference)
        package = registry.load(f"{version.name}:{version.version}")
    spec = json.loads((Path(package) / "model_spec.json").read_text(encoding="utf-8"))
    names = spec.get("class_names")
    return ModelReference(
        version.name, version.version, load_reference_profile(package), [str(name) for name in names] if names else None
    )


def prediction_column(profile: ReferenceProfile) -> str | None:
    """The logged prediction column compared with the reference target (class names or values)."""
    if profile.target is None:
        return None
    return "prediction" if profile.target.kind == "categorical" else "prediction_value"


def drift_of(profile: ReferenceProfile, window: Window, monitoring: MonitoringConfig) -> dict[str, Any]:
    """Data, prediction and multivariate drift of the window against the profile."""
    return check_drift(profile, window.table, monitoring, prediction_column=prediction_column(profile))


def performance_of(
    loaded: LoadedConfig, project_root: Path, window: Window, class_names: list[str] | None
) -> dict[str, Any] | None:
    """Measured (labels joined on request id) and estimated performance, when `monitoring.performance` is set."""
    from mlops_declare.monitor.performance import check_performance, load_labels

    config = loaded.config.monitoring.performance
    if config is None:
        return None
    labels = load_labels(config.labels, project_root) if config.labels is not None else None
    return check_performance(window.table, labels, class_names or window.class_names, config)


def compact(drift: dict[str, Any]) -> dict[str, Any]:
    """The drift result without config and undrifted columns' chart data: small enough to travel through XCom."""
    small = {key: value for key, value in drift.items() if key != "config"}
    # Only drifted columns keep their distributions (the report charts those).
    small["columns"] = [
        {k: v for k, v in column.items() if k != "distribution" or column["drifted"]}
        for column in drift.get("columns", [])
    ]
    if drift.get("prediction"):
        small["prediction"] = {k: v for k, v in drift["prediction"].items() if k != "distribution"}
    return small


def act(
    loaded: LoadedConfig,
    project_root: Path,
    result: dict[str, Any],
    *,
    record: bool = True,
    alerts: bool = True,
    retrain: bool = True,
    html_path: Path | None = None,
    json_path: Path | None = None,
) -> dict[str, Any]:
    """Record the check, write its reports, fire alerts and decide on a retrain; the result, completed."""
    from mlops_declare.monitor.report import write_html_report, write_json_report

    home = loaded.config.project.home_path(project_root)
    drift = result["drift_result"]
    performance = result.get("performance") or {}
    result["drift"] = bool(drift.get("drift")) or any(
        metric.get("breached") and not metric.get("estimated") for metric in performance.get("metrics", [])
    )
    model = result.get("model")
    reason = retrain_reason(result) if retrain and drift.get("status") != "insufficient_data" else None
    history: list[dict[str, Any]] = []
    request = None
    if record:
        from mlops_declare.monitor.store import MonitoringStore
        from mlops_declare.registry import Registry

        with Registry.from_config(loaded.config.registry, project_root) as registry:
            store = MonitoringStore(registry.engine)
            if reason and model and _may_retrain(loaded, store, model["name"]):
                request = retrain_request(result, reason, None)
                result["retrain"] = request
            result["check_id"] = store.record(result, kind=result.get("kind", "monitor"))
            if request is not None:
                request["check_id"] = result["check_id"]
            history = store.history(model["name"] if model else None, limit=50)
    elif reason and model and _may_retrain(loaded, None, model["name"]):
        request = retrain_request(result, reason, None)
    result["retrain"] = request
    if request is not None and not in_airflow():
        result["retrain_file"] = str(write_retrain_request(home, request))
    check_id = result.get("check_id")
    if record and check_id is not None:
        folder = home / REPORTS_FOLDER
        result["reports"] = {"json": str(folder / f"{check_id}.json"), "html": str(folder / f"{check_id}.html")}
    result["alerts"] = (
        fire_alerts(result, list(loaded.config.monitoring.alerts), project_root)
        if alerts and needs_attention(result)
        else []
    )
    if record and check_id is not None:
        write_json_report(Path(result["reports"]["json"]), result)
        write_html_report(Path(result["reports"]["html"]), result, history)
    if json_path is not None:
        write_json_report(json_path, result)
    if html_path is not None:
        write_html_report(html_path, result, history)
    return result


def _may_retrain(loaded: LoadedConfig, store: Any, model_name: str) -> bool:
    triggers = loaded.config.orchestration.triggers
    if not triggers.drift:
        return False
    hours = float(getattr(triggers, "min_retrain_interval_hours", 0.0) or 0.0)
    if hours <= 0 or store is None:
        return True
    last = store.last_retrain_request(model_name)
    return last is None or datetime.now(UTC) - last >= timedelta(hours=hours)


def run_check(
    loaded: LoadedConfig,
    project_root: Path,
    *,
    model_ref: str | None = None,
    current: Path | None = None,
    last_rows: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    record: bool = True,
    alerts: bool = True,
    html_path: Path | None = None,
    json_path: Path | None = None,
) -> dict[str, Any]:
    """`mlops-declare monitor`: the served model's check end to end."""
    from mlops_declare.monitor.window import file_window, read_inference_window

    model = load_model_reference(loaded, project_root, model_ref)
    monitoring = loaded.config.monitoring
    if current is not None:
        window = file_window(current)
    else:
        home = loaded.config.project.home_path(project_root)
        rows = last_rows if last_rows is not None or start is not None else monitoring.window.size_rows
        window = read_inference_window(home, model.name, None, rows, start, end)
    if window.table.num_rows == 0 and current is None:
        raise MonitoringError(f"the inference log has no served rows of model {model.name!r} in this window")
    result: dict[str, Any] = {
        "kind": "monitor",
        "model": model.to_json(),
        "window": window.to_json(),
        "drift_result": drift_of(model.profile, window, monitoring),
        "performance": performance_of(loaded, project_root, window, model.class_names),
    }
    return act(loaded, project_root, result, record=record, alerts=alerts, html_path=html_path, json_path=json_path)
