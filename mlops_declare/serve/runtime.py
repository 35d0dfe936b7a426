"""The serving runtime behind the generated BentoML service: load, verify, warm, batch, predict, swap, log.

One `Runtime` per worker process. It resolves the followed reference through the registry (opened
read-only where the registry offers it), loads the digest-verified package once (preprocessing
included), warms it with one prediction and only then reports ready. A background thread polls the
registry every `serving.reload_s` and swaps in a newly promoted (or rolled back) version after
loading, verifying and warming it; a version that fails is refused and the old one keeps serving.

Requests are batched here rather than with BentoML's `batchable` APIs: those merge requests before
the handler, so per-request auth, row limits, canary routing and request ids in the inference log
would be lost. The runtime batches after them (see `Batcher`): requests queued behind a running
forward pass share the next one, up to `batching.max_batch_size` rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_declare.contracts.service import FeatureSpec, ServiceSpec
from mlops_declare.errors import MlopsDeclareError

if TYPE_CHECKING:
    import numpy as np

    from mlops_declare.registry import Registry

LOGGER = logging.getLogger("mlops_declare.serve")

BUNDLED_PACKAGE = "model_package"
"""Folder next to service.py holding the verified package a bento was built with."""
RUNTIME_FILE = "runtime.json"
"""File next to service.py (in a bento) with the registry address and the project home."""
OVERRIDES_VARIABLE = "MLOPS_DECLARE_OVERRIDES"
"""JSON list of Hydra overrides `mlops-declare serve` passes to the worker."""
PROJECT_ROOT_VARIABLE = "MLOPS_DECLARE_PROJECT_ROOT"
"""The project folder (holding conf/) when service.py lives elsewhere."""

_CURRENT: Runtime | None = None


def current_runtime() -> Runtime | None:
    """The runtime of this worker process (the middleware answers GET /metadata with it)."""
    return _CURRENT


class ServingError(MlopsDeclareError):
    """The service cannot load, verify or answer with a model version."""


# --- a loaded version --------------------------------------------------------------------------


@dataclass
class ServedVersion:
    """A verified, warmed package and what is needed to answer with it."""

    name: str
    version: int
    package: Any
    preprocessor: Any
    class_names: list[str] | None
    task: str
    metrics: dict[str, Any]
    features: list[FeatureSpec]
    pass_seconds: float = 0.0
    """How long one warm single-record pass took (preprocessing + forward): the batcher's first estimate."""

    def transform(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Raw records -> the network's float32 input: the packaged preprocessing, loaded once."""
        result: np.ndarray = self.preprocessor.transform_records(records)
        return result

    def forward(self, features: np.ndarray) -> np.ndarray:
        """Probabilities or values for preprocessed rows (`ModelPackage.predict`)."""
        result: np.ndarray = self.package.predict(features)
        return result

    def answers(self, outputs: np.ndarray) -> list[dict[str, Any]]:
        """Per-row prediction dicts (class name, its probability, all probabilities; or the value)."""
        rows: list[dict[str, Any]] = []
        if self.task == "regression":
            return [
                {"prediction": value, "probability": None, "probabilities": None}
                for value in outputs.reshape(-1).tolist()
            ]
        names = self.class_names or []
        binary = self.task == "binary"
        for value in (outputs.reshape(-1) if binary else outputs).tolist():  # Python floats for the whole batch at once
            probabilities = [1.0 - value, value] if binary else value
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            label = names[best] if best < len(names) else str(best)
            rows.append(
                {
                    "prediction": label,
                    "probability": probabilities[best],
                    "probabilities": dict(
                        zip(names or [str(i) for i in range(len(probabilities))], probabilities, strict=False)
                    ),
                }
            )
        return rows


def features_of_package(preprocessor: Any, class_names: Sequence[str] | None) -> list[FeatureSpec]:
    """The typed request fields a package expects (for inferred features the compiler could not know)."""
    features = []
    for fitted in preprocessor.state["features"]:
        kind = fitted["type"]
        features.append(
            FeatureSpec(
                name=fitted["name"],
                type=kind,
                shape=tuple(fitted["shape"]) if kind == "image" else None,
                categories=None,
                optional=kind != "image",
            )
        )
    return features


def load_version(directory: Path, name: str, version: int) -> ServedVersion:
    """Load a package (every file's sha256 checked), cache its preprocessing, warm it with one prediction."""
    from mlops_declare.train.package import load_package

    try:
        package = load_package(directory)
        preprocessor = package.preprocessor()
    except MlopsDeclareError as exc:
        raise ServingError(f"{name}:{version} failed verification: {exc}") from None
    class_names = package.spec.get("class_names")
    metrics_path = directory / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    served = ServedVersion(
        name=name,
        version=version,
        package=package,
        preprocessor=preprocessor,
        class_names=list(class_names) if class_names else None,
        task=str(package.spec.get("task") or package.architecture["task"]),
        metrics=metrics,
        features=features_of_package(preprocessor, class_names),
    )
    record = warmup_record(served.features)
    served.answers(served.forward(served.transform([record])))
    started = time.perf_counter()  # the first pass pays one-off allocations; the second is typical
    served.answers(served.forward(served.transform([record])))
    served.pass_seconds = time.perf_counter() - started
    return served


def warmup_record(features: Sequence[FeatureSpec]) -> dict[str, Any]:
    """A record every package accepts: missing values for imputed features, zeros for an image."""
    import math

    record: dict[str, Any] = {}
    for feature in features:
        if feature.type == "image":
            record[feature.name] = [0.0] * math.prod(feature.shape or (1,))
        else:
            record[feature.name] = None
    return record


# --- registry access ---------------------------------------------------------------------------


def open_registry(project_root: Path, here: Path, read_only: bool = True) -> Registry:
    """The registry the service follows: a bento's runtime.json, else the project's config (read-only unless asked)."""
    from mlops_declare.config.registry import RegistryConfig
    from mlops_declare.registry import Registry, resolve_store_urls

    runtime_file = here / RUNTIME_FILE
    if runtime_file.is_file():
        from omegaconf import OmegaConf

        settings = json.loads(runtime_file.read_text(encoding="utf-8"))
        # Secrets travel as ${oc.env:VAR} references; resolve them here, in memory only.
        resolved = OmegaConf.to_container(OmegaConf.create(settings["registry"]), resolve=True)
        config = RegistryConfig.model_validate(resolved)
        store_url, artifact_url = resolve_store_urls(config, project_root)
    else:
        from mlops_declare.config import load_config

        overrides = json.loads(os.environ.get(OVERRIDES_VARIABLE) or "[]")
        loaded = load_config(project_root / "conf", overrides)
        config = loaded.config.registry
        store_url, artifact_url = resolve_store_urls(config, project_root)
    cache = Path(os.environ.get("MLOPS_DECLARE_SERVE_CACHE") or Path.home() / ".cache" / "mlops-declare" / "serve")
    return Registry.open(store_url, artifact_url, config, cache, read_only=read_only)


# --- batching ----------------------------------------------------------------------------------


@dataclass
class _Item:
    served: ServedVersion
    records: list[dict[str, Any]]
    future: asyncio.Future[Any]


INLINE_PASS_S = 0.002
"""Passes typically shorter than this run on the event loop instead of the inference thread (see Batcher)."""


class Batcher:
    """Adaptive batching: requests that arrive while a forward pass runs share the next one.

    At low load a request runs alone at once (the batcher never waits idle for company). Under load,
    everything queued behind the running pass (up to `max_rows` rows, of one model version) becomes
    the next batch, so batches grow with the load. When the previous batch held several requests and
    passes are slow enough for waiting to pay (a pass longer than `INLINE_PASS_S`), the next batch
    also waits up to `max_latency_s` (never longer than one typical pass) for more to join.
    Preprocessing runs on the whole batch (one Arrow conversion instead of one per request); when a
    batch fails to preprocess, its requests run one by one so only the bad request gets the error.

    Where a pass runs is measured, not configured: a pass that typically takes less than
    `INLINE_PASS_S` runs on the event loop, because handing it to the inference thread costs more
    than the pass (a thread switch, and the GIL passed back and forth with the event loop: on a
    2-core host, with a small MLP, that hand-off cut throughput at 64 concurrent requests by half).
    Longer passes run in the inference thread so the event loop keeps parsing requests meanwhile.
    """

    def __init__(
        self, executor: ThreadPoolExecutor, enabled: bool, max_rows: int, max_latency_s: float, on_batch: Any
    ) -> None:
        self.executor = executor
        self.enabled = enabled
        self.max_rows = max_rows
        self.max_latency_s = max_latency_s
        self.on_batch = on_batch
        self.pass_seconds: float | None = None
        """Moving average of recent passes' duration (None until the first pass: the warm-up's is used)."""
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None

    async def run(self, served: ServedVersion, records: list[dict[str, Any]]) -> Any:
        """Outputs for `records` (raises the request's own MlopsDeclareError for bad input)."""
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.on_batch(len(records))
            result = (await self._call(served, [records]))[0]
            if isinstance(result, BaseException):
                raise result
            return result
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._loop())
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(_Item(served, records, future))
        return await future

    def _typical(self, served: ServedVersion) -> float:
        return self.pass_seconds if self.pass_seconds is not None else served.pass_seconds

    async def _call(self, served: ServedVersion, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """`_predict_batch` inline or in the inference thread (see the class docstring), timed."""
        started = time.perf_counter()
        if self._typical(served) < INLINE_PASS_S:
            results = _predict_batch(served, batches)
        else:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, _predict_batch, served, batches)
        elapsed = time.perf_counter() - started
        self.pass_seconds = elapsed if self.pass_seconds is None else 0.8 * self.pass_seconds + 0.2 * elapsed
        return results

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        carry: _Item | None = None
        busy = False
        while True:
            first = carry or await self._queue.get()
            carry = None
            items, rows = [first], len(first.records)
            typical = self._typical(first.served)
            wait = min(self.max_latency_s, typical) if busy and typical >= INLINE_PASS_S else 0.0
            deadline = loop.time() + wait
            while rows < self.max_rows:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    item = self._queue.get_nowait()
                if item.served is not first.served or rows + len(item.records) > self.max_rows:
                    carry = item
                    break
                items.append(item)
                rows += len(item.records)
            busy = len(items) > 1
            await self._execute(items, rows)
            # An inline pass never yielded: let the requests it answered (and new ones) move first.
            await asyncio.sleep(0)

    async def _execute(self, items: list[_Item], rows: int) -> None:
        live = [item for item in items if not item.future.done()]
        if not live:
            return
        self.on_batch(rows)
        try:
            results = await self._call(live[0].served, [item.records for item in live])
        except Exception as exc:  # the model itself failed: every waiting request learns it
            results = [exc] * len(live)
        for item, result in zip(live, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)


def _predict(served: ServedVersion, records: list[dict[str, Any]]) -> Any:
    return served.forward(served.transform(records))


def _predict_batch(served: ServedVersion, batches: list[list[dict[str, Any]]]) -> list[Any]:
    """One preprocessing + forward pass for all requests; per request again only when one of them is bad."""
    if len(batches) == 1:
        try:
            return [_predict(served, batches[0])]
        except MlopsDeclareError as exc:
            return [exc]
    try:
        features = served.transform([record for batch in batches for record in batch])
    except MlopsDeclareError:
        results: list[Any] = []
        for batch in batches:
            try:
                results.append(_predict(served, batch))
            except MlopsDeclareError as exc:
                results.append(exc)
        return results
    outputs = served.forward(features)
    split, start = [], 0
    for batch in batches:
        split.append(outputs[start : start + len(batch)])
        start += len(batch)
    return split


# --- the runtime -------------------------------------------------------------------------------


@dataclass
class RequestOutcome:
    """What the API method returns: HTTP status, body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Runtime:
    """Everything one worker process serves with."""

    def __init__(self, spec: ServiceSpec, project_root: Path, here: Path, config_fingerprint: str) -> None:
        global _CURRENT
        self.spec = spec
        self.project_root = Path(os.environ.get(PROJECT_ROOT_VARIABLE) or project_root).resolve()
        self.here = Path(here).resolve()
        self.config_fingerprint = config_fingerprint
        settings_file = self.here / RUNTIME_FILE
        bundled = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
        self.reference: str = bundled.get("reference") or spec.model
        """What this replica follows: serving.model, or the reference a bento was built for (a version pins it)."""
        self.primary: ServedVersion | None = None
        self.candidate: ServedVersion | None = None
        self.refused: set[tuple[str, int]] = set()
        self.error: str | None = None
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._registry: Registry | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        from mlops_declare.serve.metrics import serving_metrics

        self.metrics = serving_metrics()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
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
        self._thread = threading.Thread(target=self._follow, name="model-follower", daemon=True)
        _CURRENT = self

    # lifecycle

    def start(self) -> None:
        """Load in the background; `ready` turns true once the first version is verified and warmed."""
        import torch

        # Intra-op threads beyond the cores the replica asks for (serving.resources.cpu) fight the event
        # loop and the other workers; on a busy 2-core host a 64-row pass took 23 ms with 2 threads, 0.13 ms with 1.
        torch.set_num_threads(max(1, int(self.spec.resources.cpu)))
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self.primary is not None

    def close(self) -> None:
        """Stop following the registry and flush the inference log (BentoML's on_shutdown)."""
        self._stop.set()
        if self.primary is not None:
            self._record(f"{self.primary.name}:{self.primary.version}", "stopped")
        if self.log is not None:
            self.log.close()
        if self._registry is not None:
            self._registry.close()
        self._executor.shutdown(wait=True)

    def _follow(self) -> None:
        self._load_bundled()
        while not self._stop.is_set():
            try:
                self._poll()
                self.error = None
            except Exception as exc:  # the registry may be down: keep serving what is loaded
                self.error = str(exc)
                level = logging.WARNING if self.ready else logging.ERROR
                LOGGER.log(level, "serving %s: %s", self.reference, exc)
                if self._registry is not None:
                    self._registry.close()
                    self._registry = None
            self._stop.wait(self.spec.reload_s if self.ready else min(self.spec.reload_s, 2.0))

    def _load_bundled(self) -> None:
        bundled = self.here / BUNDLED_PACKAGE
        settings_file = self.here / RUNTIME_FILE
        if not (bundled.is_dir() and settings_file.is_file()):
            return
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
        try:
            served = load_version(bundled, settings["model_name"], int(settings["model_version"]))
        except ServingError as exc:
            self.error = str(exc)
            LOGGER.error("bundled package refused: %s", exc)
            return
        self._install("primary", served, record=False)

    def _poll(self) -> None:
        if self._registry is None:
            self._registry = open_registry(self.project_root, self.here)
        self._follow_reference("primary", self.reference)
        if self.spec.rollout.candidate is not None:
            self._follow_reference("candidate", self.spec.rollout.candidate)

    def _follow_reference(self, variant: str, reference: str) -> None:
        assert self._registry is not None
        record = self._registry.resolve(reference)
        current = self.primary if variant == "primary" else self.candidate
        if current is not None and (current.name, current.version) == (record.name, record.version):
            return
        if (record.name, record.version) in self.refused:
            return
        try:
            directory = self._registry.load(record.ref)
            served = load_version(directory, record.name, record.version)
        except MlopsDeclareError as exc:
            self.refused.add((record.name, record.version))
            self.metrics.swaps.labels("refused").inc()
            LOGGER.error(
                "refused %s for %s: %s; still serving %s",
                record.ref,
                reference,
                exc,
                f"{current.name}:{current.version}" if current else "nothing",
            )
            self._record(record.ref, "refused")
            return
        self._install(variant, served, record=True)

    def _install(self, variant: str, served: ServedVersion, record: bool) -> None:
        previous = self.primary if variant == "primary" else self.candidate
        if variant == "primary":
            if self.log is None and self.spec.log_inferences:
                self.log = self._open_log(served)
            self.primary = served  # one reference assignment: requests see the old version or the new one
        else:
            self.candidate = served
        _settle_memory()
        label = "primary" if variant == "primary" else self.spec.rollout.strategy
        self.metrics.served_version.labels(served.name, label).set(served.version)
        if previous is not None:
            self.metrics.swaps.labels("swapped").inc()
        LOGGER.info(
            "serving %s:%s as %s (was %s)",
            served.name,
            served.version,
            variant,
            f"{previous.name}:{previous.version}" if previous else "nothing",
        )
        if record:
            self._record(f"{served.name}:{served.version}", "serving")

    def _record(self, ref: str, status: str) -> None:
        """A deployment record (mlops_declare/contracts/seams.py); the only write a replica makes, through a short writable open."""
        try:
            with open_registry(self.project_root, self.here, read_only=False) as registry:
                registry.record_deployment(
                    ref,
                    f"service:{self.spec.name}@{self.host}",
                    status,
                    actor=f"service:{self.spec.name}",
                    details={"reference": self.reference, "pid": os.getpid()},
                )
        except Exception as exc:  # a read-only registry or a transient error must not stop serving
            LOGGER.warning("could not record the deployment of %s: %s", ref, exc)

    def _open_log(self, served: ServedVersion) -> Any:
        from mlops_declare.serve.inference_log import InferenceLogWriter

        folder = Path(self.spec.inference_log_dir)
        settings_file = self.here / RUNTIME_FILE
        if settings_file.is_file():
            folder = Path(json.loads(settings_file.read_text(encoding="utf-8"))["inference_log_dir"])
        if not folder.is_absolute():
            folder = self.project_root / folder
        settings = self.spec.inference_log
        return InferenceLogWriter(
            folder,
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
        return list(self.primary.features) if self.primary is not None else []

    async def predict(self, endpoint: str, records: list[dict[str, Any]], request_id: str | None) -> RequestOutcome:
        """Answer raw records: route (canary/shadow), preprocess, batch, predict, count, log."""
        started = time.perf_counter()
        arrived = datetime.now(UTC)
        request_id = request_id or uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        primary = self.primary
        if primary is None:
            self.metrics.requests.labels(endpoint, "503").inc()
            detail = self.error or "the model is still loading"
            return RequestOutcome(503, {"error": f"not ready: {detail}"}, {**headers, "Retry-After": "5"})
        rollout = self.spec.rollout
        candidate = self.candidate
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
            self.log.submit(self._rows(request_id, arrived, answering, variant, True, latency_ms, records, answers))
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
        except Exception as exc:
            LOGGER.warning("shadow %s:%s failed on request %s: %s", candidate.name, candidate.version, request_id, exc)
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._count("shadow", candidate, "shadow", [], answers)
        if sampled and self.log is not None:
            self.log.submit(self._rows(request_id, arrived, candidate, "shadow", False, latency_ms, records, answers))

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
        primary = self.primary
        if primary is None:
            raise ServingError(f"not ready: {self.error or 'the model is still loading'}")
        reference = self.reference
        candidate = self.candidate
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
            "config_fingerprint": self.config_fingerprint,
            "candidate": None
            if candidate is None
            else {
                "strategy": self.spec.rollout.strategy,
                "reference": self.spec.rollout.candidate,
                "name": candidate.name,
                "version": candidate.version,
            },
        }


def _settle_memory() -> None:
    """Collect what the previous version left, then put everything alive into the GC's permanent generation.

    A replica holds millions of long-lived objects (torch, BentoML, pydantic, the model); every full
    collection walked them all, and those pauses were the tail: 150-240 ms gen-2 collections while
    serving the example MLP at 32-64 concurrent requests, p99 ~240-290 ms. Frozen, they are skipped:
    pauses of 8-40 ms, p99 68-109 ms in the same run. Done after every load, so a swap's old version
    is collected (one full pass, on the model-follower thread) before the new survivors are frozen.
    """
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()


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
