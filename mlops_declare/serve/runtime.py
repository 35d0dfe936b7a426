"""The serving runtime behind the generated BentoML service: the request path, its metrics and inference-log rows.

One `Runtime` per worker process. Its `Follower` (mlops_declare.serve.follower) keeps `primary` and
the rollout `candidate` in step with the registry; its `Batcher`s (mlops_declare.serve.batcher) run
the forward passes; the runtime routes each request (canary, shadow), counts it, and hands sampled
rows to the inference-log writer. The generated service's `__init__` builds it and registers it
with `activate` so the ASGI guard can answer GET /metadata from this worker.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_declare.contracts.service import FeatureSpec, ServiceSpec
from mlops_declare.errors import MlopsDeclareError
from mlops_declare.serve.batcher import Batcher
from mlops_declare.serve.deployment import Deployment
from mlops_declare.serve.follower import Follower
from mlops_declare.serve.loading import ServedVersion, ServingError

LOGGER = logging.getLogger("mlops_declare.serve")

_ACTIVE: Runtime | None = None


def activate(runtime: Runtime) -> None:
    """Make `runtime` the one this worker process's ASGI guard answers GET /metadata with."""
    global _ACTIVE
    _ACTIVE = runtime


def current_runtime() -> Runtime | None:
    """The runtime `activate` registered in this worker process, if any."""
    return _ACTIVE


@dataclass
class RequestOutcome:
    """What the API method returns: HTTP status, body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Runtime:
    """Everything one worker process answers with."""

    def __init__(self, spec: ServiceSpec, deployment: Deployment) -> None:
        from mlops_declare.serve.metrics import serving_metrics

        self.spec = spec
        self.deployment = deployment
        self.metrics = serving_metrics()
        self.follower = Follower(spec, deployment, self.metrics, before_primary=self._open_log)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        batching = spec.batching
        self._batchers = {
            variant: Batcher(
                self._executor,
                batching.enabled,
                batching.max_batch_size,
                batching.max_latency_ms / 1000.0,
                self.metrics.batch_size.labels(variant).observe,
            )
            for variant in ("primary", "candidate")
        }
        self.log: Any = None
        self._random = random.Random()

    # lifecycle

    def start(self) -> None:
        """Load in the background; `ready` turns true once the first version is verified and warmed."""
        import torch

        # Intra-op threads beyond the cores the replica asks for (serving.resources.cpu) fight the event
        # loop and the other workers; on a busy 2-core host a 64-row pass took 23 ms with 2 threads, 0.13 ms with 1.
        torch.set_num_threads(max(1, int(self.spec.resources.cpu)))
        self.follower.start()

    @property
    def ready(self) -> bool:
        return self.follower.primary is not None

    @property
    def reference(self) -> str:
        return self.follower.reference

    def close(self) -> None:
        """Stop following the registry and flush the inference log (BentoML's on_shutdown)."""
        self.follower.stop()
        if self.log is not None:
            self.log.close()
        self._executor.shutdown(wait=True)

    def _open_log(self, served: ServedVersion) -> None:
        """The inference-log writer, opened for the first primary (its features are the log's columns)."""
        if self.log is not None or not self.spec.log_inferences:
            return
        from mlops_declare.serve.inference_log import InferenceLogWriter

        settings = self.spec.inference_log
        self.log = InferenceLogWriter(
            self.deployment.inference_log_dir,
            [(feature.name, feature.type) for feature in served.features],
            served.class_names,
            settings.queue_size,
            settings.part_max_rows,
            settings.part_max_seconds,
            on_drop=lambda count: self.metrics.log_drops.inc(count),
        )

    # requests

    def features(self) -> list[FeatureSpec]:
        if self.spec.features is not None:
            return list(self.spec.features)
        primary = self.follower.primary
        return list(primary.features) if primary is not None else []

    async def predict(self, endpoint: str, records: list[dict[str, Any]], request_id: str | None) -> RequestOutcome:
        """Answer raw records: route (canary/shadow), preprocess, batch, predict, count, log."""
        started = time.perf_counter()
        arrived = datetime.now(UTC)
        request_id = request_id or uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        follower = self.follower
        primary = follower.primary
        if primary is None:
            self.metrics.requests.labels(endpoint, "503").inc()
            detail = follower.error or "the model is still loading"
            return RequestOutcome(503, {"error": f"not ready: {detail}"}, {**headers, "Retry-After": "5"})
        rollout = self.spec.rollout
        candidate = follower.candidate
        answering, variant = primary, "primary"
        if rollout.strategy == "canary" and candidate is not None and self._random.random() < rollout.weight:
            answering, variant = candidate, "canary"
        try:
            outputs = await self._batchers["primary" if variant == "primary" else "candidate"].run(answering, records)
        except MlopsDeclareError as exc:
            self.metrics.requests.labels(endpoint, "400").inc()
            return RequestOutcome(
                400,
                {"error": str(exc), "detail": [{"loc": [endpoint], "msg": str(exc), "type": "value_error"}]},
                headers,
            )
        answers = answering.answers(outputs)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._count(endpoint, answering, variant, records, answers)
        self._child(self.metrics.latency, endpoint).observe(latency_ms / 1000.0)
        sampled = self.log is not None and (
            self.spec.log_sample_rate >= 1.0 or self._random.random() < self.spec.log_sample_rate
        )
        if sampled:
            queued = self.log.submit(
                self._rows(request_id, arrived, answering, variant, True, latency_ms, records, answers)
            )
            self.metrics.log_rows.inc(queued)
        if rollout.strategy == "shadow" and candidate is not None:
            asyncio.get_running_loop().create_task(self._shadow(candidate, records, request_id, arrived, sampled))
        body = {"model": answering.name, "version": answering.version, "request_id": request_id, "predictions": answers}
        return RequestOutcome(200, body, headers)

    async def _shadow(
        self, candidate: ServedVersion, records: list[dict[str, Any]], request_id: str, arrived: datetime, sampled: bool
    ) -> None:
        """The candidate sees the same request; its answer is logged, never returned."""
        started = time.perf_counter()
        try:
            outputs = await self._batchers["candidate"].run(candidate, records)
            answers = candidate.answers(outputs)
        except Exception as exc:  # noqa: BLE001 - a failing shadow model must never affect the answer served
            LOGGER.warning("shadow %s:%s failed on request %s: %s", candidate.name, candidate.version, request_id, exc)
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._count("shadow", candidate, "shadow", [], answers)
        if sampled and self.log is not None:
            queued = self.log.submit(
                self._rows(request_id, arrived, candidate, "shadow", False, latency_ms, records, answers)
            )
            self.metrics.log_rows.inc(queued)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: prometheus_client's lookup costs more than the update on every request."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _count(
        self,
        endpoint: str,
        served: ServedVersion,
        variant: str,
        records: list[dict[str, Any]],
        answers: list[dict[str, Any]],
    ) -> None:
        from collections import Counter

        metrics = self.metrics
        if endpoint != "shadow":
            self._child(metrics.requests, endpoint, "200").inc()
        if served.task == "regression":
            histogram = self._child(metrics.prediction_values, variant)
            for answer in answers:
                histogram.observe(answer["prediction"])
        else:
            for label, count in Counter(answer["prediction"] for answer in answers).items():
                self._child(metrics.predictions, str(served.version), variant, label).inc(count)
        # Labelled by the served features only: a record's other keys (untyped requests) must not mint labels.
        for feature in served.features:
            missing = sum(1 for record in records if record.get(feature.name) is None)
            if missing:
                self._child(metrics.missing_inputs, feature.name).inc(missing)

    def _rows(
        self,
        request_id: str,
        arrived: datetime,
        served: ServedVersion,
        variant: str,
        answered: bool,
        latency_ms: float,
        records: list[dict[str, Any]],
        answers: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        rows = []
        kinds = {feature.name: feature.type for feature in served.features}
        for record, answer in zip(records, answers, strict=True):
            row: dict[str, Any] = {
                "request_id": request_id,
                "timestamp": arrived,
                "model_name": served.name,
                "model_version": served.version,
                "variant": variant,
                "served": answered,
                "latency_ms": latency_ms,
            }
            if served.task == "regression":
                row.update(prediction=None, prediction_value=answer["prediction"], probabilities=None)
            else:
                row.update(
                    prediction=answer["prediction"],
                    prediction_value=answer["probability"],
                    probabilities=list(answer["probabilities"].values()),
                )
            for name, kind in kinds.items():
                row[name] = _log_value(record.get(name), kind)
            rows.append(row)
        return rows

    def metadata(self) -> dict[str, Any]:
        follower = self.follower
        primary = follower.primary
        if primary is None:
            raise ServingError(f"not ready: {follower.error or 'the model is still loading'}")
        reference = follower.reference
        candidate = follower.candidate
        return {
            "name": primary.name,
            "version": primary.version,
            "reference": reference,
            "stage": reference.split("@", 1)[1] if "@" in reference else None,
            "features": [
                {
                    "name": f.name,
                    "type": f.type,
                    "optional": f.optional,
                    "categories": list(f.categories) if f.categories else None,
                    "shape": list(f.shape) if f.shape else None,
                }
                for f in self.features()
            ],
            "class_names": primary.class_names,
            "metrics": primary.metrics,
            "service_fingerprint": self.spec.fingerprint,
            "candidate": None
            if candidate is None
            else {
                "strategy": self.spec.rollout.strategy,
                "reference": self.spec.rollout.candidate,
                "name": candidate.name,
                "version": candidate.version,
            },
        }


def _log_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "categorical":
        return str(value)
    if kind == "image":
        import numpy as np

        return np.asarray(value, dtype=np.float64).reshape(-1).tolist()
    return float(value)


def columns_to_records(columns: Mapping[str, Sequence[Any] | None], max_rows: int) -> list[dict[str, Any]]:
    """Columnar input (`{"feature": [v1, v2, ...]}`) as records; every given column must have the same length."""
    given = {name: values for name, values in columns.items() if values is not None}
    lengths = {name: len(values) for name, values in given.items()}
    if not lengths:
        raise ValueError("no columns given")
    count = max(lengths.values())
    short = sorted(name for name, length in lengths.items() if length != count)
    if short:
        raise ValueError(
            f"columns {', '.join(repr(name) for name in short)} have fewer values than the longest column ({count})"
        )
    if count > max_rows:
        raise ValueError(f"{count} rows is more than serving.limits.max_rows ({max_rows})")
    return [{name: (given[name][index] if name in given else None) for name in columns} for index in range(count)]
