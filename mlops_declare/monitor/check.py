"""The monitoring check in small pieces that `mlops-declare drift`/`monitor` and the monitoring DAG's
steps compose: the reference (a registered model's package), the current window, drift and
performance; then the verdict, the retrain decision, the record in the registry database, the
reports, the alerts and the retrain request.

A check is a JSON dict (`kind`, `model`, `window`, `drift_result`, `performance`, then `drift`,
`retrain`, `check_id`, `reports`, `alerts` as the pieces fill them in): what reports, alerts, the
monitoring history and `--json` show. Monitors open the registry read-only (no migration, no
write, see contracts/seams.py); recording a check is the one write, through a short writable open.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_declare.config import LoadedConfig
from mlops_declare.config.monitoring import MonitoringConfig
from mlops_declare.contracts.layouts import PACKAGE_SPEC_FILE, default_served_reference
from mlops_declare.contracts.seams import RetrainRequest
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

LOGGER = logging.getLogger("mlops_declare.monitor")

REPORTS_FOLDER = "monitoring/reports"
"""Under `project.home`: `<check id>.json` and `<check id>.html` of every recorded check."""
HISTORY_IN_REPORTS = 50
"""Past checks a recorded check's HTML report charts."""


@dataclass(frozen=True)
class ModelReference:
    """A registered version and what its package carries for monitoring."""

    name: str
    version: int
    profile: ReferenceProfile
    class_names: list[str] | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


# --- the reference and the measurements ---------------------------------------------------------


def default_model_ref(loaded: LoadedConfig) -> str:
    """What the service follows: `serving.model`, else `<model.name>@production`."""
    return loaded.config.serving.model or default_served_reference(loaded.config.model.name)


def load_model_reference(loaded: LoadedConfig, project_root: Path, ref: str | None = None) -> ModelReference:
    """Resolve `ref` (default: the served model) in the registry, opened read-only, and read the
    reference profile its package carries."""
    from mlops_declare.registry import open_registry

    with open_registry(loaded.config.registry, project_root, read_only=True) as registry:
        version = registry.resolve(ref or default_model_ref(loaded))
        package = registry.load(version.ref)
    spec = json.loads((Path(package) / PACKAGE_SPEC_FILE).read_text(encoding="utf-8"))
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


def current_window(
    loaded: LoadedConfig,
    project_root: Path,
    model_name: str,
    last_rows: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """The model's served rows of the inference log: the newest `last_rows`, those in [start, end),
    or by default the newest `monitoring.window.size_rows`; MonitoringError when there are none."""
    from mlops_declare.monitor.window import read_inference_window

    home = loaded.config.project.home_path(project_root)
    if last_rows is None and start is None:
        last_rows = loaded.config.monitoring.window.size_rows
    window = read_inference_window(home, model_name, None, last_rows, start, end)
    if window.table.num_rows == 0:
        raise MonitoringError(f"the inference log has no served rows of model {model_name!r} in this window")
    return window


def measure(loaded: LoadedConfig, project_root: Path, model: ModelReference, window: Window) -> dict[str, Any]:
    """The check of `window` against the model's reference: drift and performance, nothing decided yet."""
    return {
        "kind": "monitor",
        "model": model.to_json(),
        "window": window.to_json(),
        "drift_result": drift_of(model.profile, window, loaded.config.monitoring),
        "performance": performance_of(loaded, project_root, window, model.class_names),
    }


# --- deciding -------------------------------------------------------------------------------------


def drift_verdict(result: dict[str, Any]) -> bool:
    """The check's verdict: drift found, or a measured (not estimated) performance metric breached."""
    performance = result.get("performance") or {}
    return bool(result["drift_result"].get("drift")) or any(
        metric.get("breached") and not metric.get("estimated") for metric in performance.get("metrics", [])
    )


def retrain_due(loaded: LoadedConfig, project_root: Path, result: dict[str, Any]) -> RetrainRequest | None:
    """The retrain request the check warrants, or None.

    One is due when `orchestration.triggers.drift` is on, the check has a model and a verdict (not
    insufficient data), finds dataset or multivariate drift or a breached measured metric, and the
    model's last requested retrain is at least `min_retrain_interval_hours` old (read-only).
    """
    triggers = loaded.config.orchestration.triggers
    model = result.get("model")
    if not triggers.drift or not model or result["drift_result"].get("status") == "insufficient_data":
        return None
    reason = retrain_reason(result)
    if reason is None or retrain_held_back(loaded, project_root, str(model["name"])) is not None:
        return None
    return retrain_request(result, reason)


def retrain_held_back(loaded: LoadedConfig, project_root: Path, model_name: str) -> str | None:
    """Why a retrain this check asks for is not requested now: the last one is younger than
    `orchestration.triggers.min_retrain_interval_hours` (with its time and when the next may go); else None."""
    from mlops_declare.monitor.store import MonitoringStore
    from mlops_declare.registry import open_registry

    hours = loaded.config.orchestration.triggers.min_retrain_interval_hours
    if hours <= 0:
        return None
    with open_registry(loaded.config.registry, project_root, read_only=True) as registry:
        last = MonitoringStore(registry.engine).last_retrain_request(model_name)
    if last is None or datetime.now(UTC) - last >= timedelta(hours=hours):
        return None
    return (
        f"retrain held back: the last one for {model_name} was requested at {last.isoformat(timespec='seconds')}, "
        f"less than orchestration.triggers.min_retrain_interval_hours = {hours:g} ago; the next may go after "
        f"{(last + timedelta(hours=hours)).isoformat(timespec='seconds')}"
    )


def note_held_back_retrain(loaded: LoadedConfig, project_root: Path, result: dict[str, Any]) -> None:
    """Set `result["retrain_held_back"]` (and log it) when the check warrants a retrain the interval holds back."""
    model = result.get("model")
    triggers = loaded.config.orchestration.triggers
    if result.get("retrain") or not model or not triggers.drift or retrain_reason(result) is None:
        return
    if result["drift_result"].get("status") == "insufficient_data":
        return
    held = retrain_held_back(loaded, project_root, str(model["name"]))
    if held is not None:
        result["retrain_held_back"] = held
        LOGGER.warning("%s", held)


# --- the registry database -------------------------------------------------------------------------


def record_check(loaded: LoadedConfig, project_root: Path, result: dict[str, Any]) -> int:
    """Record the check (its verdict and whether it asked for a retrain) in the registry database; its id.

    The monitor's one write, through a short-lived writable open of the registry.
    """
    from mlops_declare.monitor.store import MonitoringStore
    from mlops_declare.registry import open_registry

    with open_registry(loaded.config.registry, project_root, read_only=False) as registry:
        return MonitoringStore(registry.engine).record(result, kind=result.get("kind", "monitor"))


def check_history(
    loaded: LoadedConfig,
    project_root: Path,
    model_name: str | None,
    column: str | None = None,
    limit: int = HISTORY_IN_REPORTS,
) -> list[dict[str, Any]]:
    """Recorded checks, newest first (of one model, and only one column's tests, when given); read-only."""
    from mlops_declare.monitor.store import MonitoringStore
    from mlops_declare.registry import open_registry

    with open_registry(loaded.config.registry, project_root, read_only=True) as registry:
        return MonitoringStore(registry.engine).history(model_name, column, limit)


# --- what the check leaves behind -----------------------------------------------------------------


def report_paths(loaded: LoadedConfig, project_root: Path, check_id: int) -> dict[str, str]:
    """Where a recorded check's reports go: `<project.home>/monitoring/reports/<check id>.json` and `.html`."""
    folder = loaded.config.project.home_path(project_root) / REPORTS_FOLDER
    return {"json": str(folder / f"{check_id}.json"), "html": str(folder / f"{check_id}.html")}


def write_reports(
    result: dict[str, Any],
    history: list[dict[str, Any]],
    json_path: str | Path | None = None,
    html_path: str | Path | None = None,
) -> None:
    """The check as JSON at `json_path` and as the self-contained HTML report (with `history` charted) at `html_path`."""
    from mlops_declare.monitor.report import write_html_report, write_json_report

    if json_path is not None:
        write_json_report(Path(json_path), result)
    if html_path is not None:
        write_html_report(Path(html_path), result, history)


def alert(loaded: LoadedConfig, project_root: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Fire `monitoring.alerts` when the check needs attention; each alert's outcome (never raises)."""
    if not needs_attention(result):
        return []
    return fire_alerts(result, list(loaded.config.monitoring.alerts), project_root)


def emit_retrain_request(loaded: LoadedConfig, project_root: Path, request: RetrainRequest) -> Path | None:
    """Outside Airflow, append the request to `<project.home>/triggers/retrain.jsonl` and return that file.

    In an Airflow task nothing is written: the monitoring DAG emits the request as the retrain
    Asset's event (the `request_retrain` step).
    """
    if in_airflow():
        return None
    return write_retrain_request(loaded.config.project.home_path(project_root), request)


def settle_check(loaded: LoadedConfig, project_root: Path, result: dict[str, Any]) -> dict[str, Any]:
    """What `mlops-declare monitor` and the DAG's `act` step do with a measured check: decide, record,
    request the retrain, alert, and write the recorded check's reports; the check, completed."""
    result["drift"] = drift_verdict(result)
    request = retrain_due(loaded, project_root, result)
    result["retrain"] = request.model_dump(mode="json") if request is not None else None
    note_held_back_retrain(loaded, project_root, result)
    check_id = result["check_id"] = record_check(loaded, project_root, result)
    if request is not None:
        request = request.model_copy(update={"check_id": check_id})
        result["retrain"] = request.model_dump(mode="json")
        retrain_file = emit_retrain_request(loaded, project_root, request)
        if retrain_file is not None:
            result["retrain_file"] = str(retrain_file)
    reports = result["reports"] = report_paths(loaded, project_root, check_id)
    result["alerts"] = alert(loaded, project_root, result)
    history = check_history(loaded, project_root, (result.get("model") or {}).get("name"))
    write_reports(result, history, json_path=reports["json"], html_path=reports["html"])
    return result
