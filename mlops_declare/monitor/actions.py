"""What a check does about its verdict: alerts (log, file, webhook) and the retrain request.

A webhook POST that fails is retried, then logged; it never fails the check. The retrain request
is a `RetrainRequest` (mlops_declare/contracts/seams.py), returned by the `act` step (the
monitoring DAG emits it as the retrain Asset's event) and, outside Airflow, appended as a JSON
line to `<project.home>/triggers/retrain.jsonl`.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_declare.config.monitoring import FileAlert, LogAlert, WebhookAlert
from mlops_declare.contracts.environment import AIRFLOW_DAG_ID
from mlops_declare.contracts.seams import (
    RETRAIN_REQUESTS_FILE,
    RetrainReason,
    RetrainRequest,
    RetrainVerdict,
    RetrainWindow,
)
from mlops_declare.webhook import post_json

LOGGER = logging.getLogger("mlops_declare.monitor")


def alert_payload(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON verdict an alert carries (with a Slack-compatible `text`)."""
    drift = result.get("drift_result", {})
    dataset = drift.get("dataset", {})
    performance = result.get("performance") or {}
    breached = [metric for metric in performance.get("metrics", []) if metric.get("breached")]
    model = result.get("model") or {}
    label = f"{model.get('name')}:{model.get('version')}" if model.get("name") else "data"
    parts = []
    if dataset.get("drifted"):
        parts.append(
            f"{'dataset drift: ' if dataset.get('dataset_drift') else ''}{dataset.get('drifted')} of {dataset.get('tested')} "
            f"columns drifted ({', '.join(dataset.get('drifted_columns', [])[:10])})"
        )
    parts += [
        f"{name} multivariate drift" for name, test in (drift.get("multivariate") or {}).items() if test.get("drifted")
    ]
    parts += [f"{signal['kind']} in {signal['column']}" for signal in drift.get("signals", [])]
    parts += [
        f"{metric['name']}{' (estimated)' if metric['estimated'] else ''} = {metric['value']:.4g} breaches {metric['threshold']}"
        for metric in breached
    ]
    return {
        "text": f"mlops-declare monitor: {label}: " + ("; ".join(parts) if parts else "no drift"),
        "model": model or None,
        "check_id": result.get("check_id"),
        "window": result.get("window"),
        "drift": bool(result.get("drift")),
        "dataset": dataset,
        "signals": drift.get("signals", []),
        "multivariate": {
            name: {"score": test.get("score"), "threshold": test.get("threshold"), "drifted": test.get("drifted")}
            for name, test in (drift.get("multivariate") or {}).items()
        },
        "performance": breached,
    }


def needs_attention(result: dict[str, Any]) -> bool:
    """Drift, a signal, or a breached performance threshold."""
    performance = result.get("performance") or {}
    return bool(result.get("drift")) or any(metric.get("breached") for metric in performance.get("metrics", []))


def fire_alerts(
    result: dict[str, Any], alerts: list[LogAlert | FileAlert | WebhookAlert], project_root: Path
) -> list[dict[str, Any]]:
    """Send the verdict to every configured alert; each one's outcome (never raises)."""
    payload = alert_payload(result)
    outcomes = []
    for alert in alerts:
        if isinstance(alert, LogAlert):
            LOGGER.log(logging.ERROR if alert.level == "error" else logging.WARNING, payload["text"])
            outcomes.append({"kind": "log", "ok": True})
        elif isinstance(alert, FileAlert):
            outcomes.append(_append_file(alert, payload, project_root))
        else:
            outcomes.append(post_webhook(alert, payload))
    return outcomes


def _append_file(alert: FileAlert, payload: dict[str, Any], project_root: Path) -> dict[str, Any]:
    path = Path(alert.path)
    path = path if path.is_absolute() else project_root / path
    try:
        append_json_line(path, {**payload, "at": datetime.now(UTC).isoformat()})
    except OSError as exc:
        LOGGER.error("alert file %s could not be written: %s", path, exc)
        return {"kind": "file", "ok": False, "path": str(path), "error": str(exc)}
    return {"kind": "file", "ok": True, "path": str(path)}


def append_json_line(path: Path, data: dict[str, Any]) -> None:
    """Append one JSON line with a single write, then fsync (concurrent appenders never interleave a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(data, sort_keys=True, default=str) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def post_webhook(alert: WebhookAlert, payload: dict[str, Any]) -> dict[str, Any]:
    """POST the payload (`mlops_declare.webhook.post_json`); the outcome, never raised."""
    return {"kind": "webhook", **post_json(alert.url, payload, alert.timeout_s, alert.retries, purpose="webhook alert")}


def retrain_request(result: dict[str, Any], reason: RetrainReason, check_id: int | None = None) -> RetrainRequest:
    """The RetrainRequest (mlops_declare/contracts/seams.py) for this check."""
    drift = result.get("drift_result", {})
    dataset = drift.get("dataset", {})
    model = result.get("model") or {}
    window = result.get("window") or {}
    return RetrainRequest(
        reason=reason,
        model=f"{model.get('name')}:{model.get('version')}",
        check_id=check_id,
        window=RetrainWindow(start=window.get("start"), end=window.get("end"), rows=window.get("rows")),
        verdict=RetrainVerdict(
            dataset_drift=bool(dataset.get("dataset_drift", False)),
            drift_share=float(dataset.get("drift_share", 0.0)),
            drifted_columns=tuple(dataset.get("drifted_columns", [])),
            multivariate={
                name: {
                    "score": test.get("score"),
                    "threshold": test.get("threshold"),
                    "drifted": bool(test.get("drifted")),
                }
                for name, test in (drift.get("multivariate") or {}).items()
            },
            performance={
                metric["name"] + (".estimated" if metric.get("estimated") else ""): metric["value"]
                for metric in (result.get("performance") or {}).get("metrics", [])
            },
        ),
        requested_at=datetime.now(UTC).isoformat(),
    )


def retrain_reason(result: dict[str, Any]) -> RetrainReason | None:
    """`drift` (dataset or multivariate drift), `performance` (a measured metric breached), or None."""
    drift = result.get("drift_result", {})
    if drift.get("dataset", {}).get("dataset_drift") or any(
        test.get("drifted") for test in (drift.get("multivariate") or {}).values()
    ):
        return "drift"
    measured = [
        metric for metric in (result.get("performance") or {}).get("metrics", []) if not metric.get("estimated")
    ]
    if any(metric.get("breached") for metric in measured):
        return "performance"
    return None


def in_airflow() -> bool:
    """Whether this process is an Airflow task (Airflow sets the task's DAG id in its environment)."""
    return AIRFLOW_DAG_ID in os.environ


def write_retrain_request(home: Path, request: RetrainRequest) -> Path:
    """Append the request to `<home>/triggers/retrain.jsonl` (what `mlops-declare run --trigger-file` consumes)."""
    path = home / RETRAIN_REQUESTS_FILE
    append_json_line(path, request.model_dump(mode="json"))
    return path
