"""Prometheus metrics of the serving runtime, next to BentoML's own request count and latency histogram.

BentoML already exports ``bentoml_service_request_total`` (by endpoint and HTTP status) and
``bentoml_service_request_duration_seconds`` on ``/metrics``; these add what only the runtime knows.
They are created in the worker process (after BentoML sets ``PROMETHEUS_MULTIPROC_DIR``), once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()
_METRICS: ServingMetrics | None = None


@dataclass(frozen=True)
class ServingMetrics:
    """The runtime's Prometheus instruments (prometheus_client objects)."""

    requests: Any
    latency: Any
    batch_size: Any
    predictions: Any
    prediction_values: Any
    missing_inputs: Any
    log_drops: Any
    log_rows: Any
    served_version: Any
    swaps: Any


def serving_metrics() -> ServingMetrics:
    """The process-wide instruments, created on first use."""
    global _METRICS
    with _LOCK:
        if _METRICS is None:
            _METRICS = _create()
        return _METRICS


def _create() -> ServingMetrics:
    from prometheus_client import Counter, Gauge, Histogram

    latency_buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
    return ServingMetrics(
        requests=Counter(
            "mlops_serving_requests",
            "Prediction requests answered by the runtime, by endpoint and status",
            ["endpoint", "status"],
        ),
        latency=Histogram(
            "mlops_serving_latency_seconds",
            "Time from request validation to answer, by endpoint",
            ["endpoint"],
            buckets=latency_buckets,
        ),
        batch_size=Histogram(
            "mlops_serving_batch_size",
            "Rows per forward pass (adaptive batching)",
            ["variant"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        ),
        predictions=Counter(
            "mlops_serving_predictions", "Predicted classes", ["model_version", "variant", "prediction"]
        ),
        prediction_values=Histogram(
            "mlops_serving_prediction_value",
            "Predicted values (regression)",
            ["variant"],
            buckets=(-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0),
        ),
        missing_inputs=Counter(
            "mlops_serving_missing_inputs", "Input values sent as null or left out, by feature", ["feature"]
        ),
        log_drops=Counter(
            "mlops_serving_inference_log_dropped", "Inference-log rows dropped because the writer's queue was full"
        ),
        log_rows=Counter("mlops_serving_inference_log_rows", "Inference-log rows queued for writing"),
        served_version=Gauge(
            "mlops_serving_model_version",
            "Registry version being served, by variant",
            ["model", "variant"],
            multiprocess_mode="livemax",
        ),
        swaps=Counter("mlops_serving_version_swaps", "Live version changes, by outcome", ["outcome"]),
    )
