"""Schema of the `serving` group: model reference, inputs, resources, batching, limits, rollout, inference log, auth."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlops_declare.config.base import ColumnName, Fraction, Name, PositiveFloat, PositiveInt, StrictModel

_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
MODEL_REFERENCE = re.compile(rf"^{_NAME}(@{_NAME}|:([1-9][0-9]{{0,9}}|latest))$")
"""The registry's reference forms: name@stage-or-alias, name:version, name:latest."""
REFERENCE_FORMS = "NAME@STAGE_OR_ALIAS, NAME:VERSION or NAME:latest (e.g. digits@production, digits:7)"


def check_model_reference(reference: str | None) -> str | None:
    if reference is not None and not MODEL_REFERENCE.match(reference):
        raise ValueError(f"{reference!r} is not a model reference; expected {REFERENCE_FORMS}")
    return reference


class Resources(StrictModel):
    """What one replica of the service asks for."""

    cpu: PositiveFloat = 1.0
    """CPU cores."""
    memory: str = Field(default="1Gi", pattern=r"^[0-9]+(Ki|Mi|Gi)$")
    """Memory, e.g. 512Mi or 2Gi."""
    gpu: Annotated[int, Field(ge=0)] = 0
    """GPUs."""


class Batching(StrictModel):
    """BentoML adaptive batching of the predict endpoint."""

    enabled: bool = True
    """Batch concurrent requests together."""
    max_batch_size: PositiveInt = 64
    """Largest batch the model sees."""
    max_latency_ms: PositiveInt = 20
    """While the model is busy, longest a batch waits for more requests to join (an idle service never waits)."""


class Limits(StrictModel):
    """Protection against overload and oversized input."""

    max_body_bytes: PositiveInt = 1_048_576
    """Largest request body; larger gets 413."""
    max_concurrency: PositiveInt = 32
    """Requests in flight per replica; more get 429."""
    timeout_s: PositiveFloat = 10.0
    """Deadline per request; past it the client gets 504."""
    max_rows: PositiveInt = 1024
    """Largest number of records in one request."""


class InferenceLog(StrictModel):
    """How the background writer queues and rotates the inference log (format: mlops_declare/contracts/seams.py)."""

    queue_size: PositiveInt = 10_000
    """Rows waiting for the background writer; when full, rows are dropped and counted, never waited for."""
    part_max_rows: PositiveInt = 50_000
    """A Parquet part is closed after this many rows ..."""
    part_max_seconds: PositiveFloat = 60.0
    """... or this many seconds after its first row, whichever comes first."""


class Rollout(StrictModel):
    """How a new version takes traffic."""

    strategy: Literal["replace", "canary", "shadow"] = "replace"
    """replace: all traffic to the new version; canary: a share; shadow: mirrored, answers discarded."""
    weight: Fraction = 0.0
    """Share of traffic the candidate gets (canary)."""
    candidate: str | None = None
    """The candidate model reference, e.g. digits@staging."""

    _candidate_is_a_reference = field_validator("candidate")(check_model_reference)

    @model_validator(mode="after")
    def _consistent(self) -> Rollout:
        if self.strategy == "replace" and (self.weight or self.candidate):
            raise ValueError("`weight` and `candidate` apply to canary or shadow rollouts only")
        if self.strategy != "replace" and self.candidate is None:
            raise ValueError(f"a {self.strategy} rollout needs a `candidate` model reference")
        if self.strategy == "canary" and not 0.0 < self.weight < 1.0:
            raise ValueError(f"a canary needs 0 < weight < 1, got {self.weight}")
        return self


class Tracing(StrictModel):
    """OpenTelemetry spans of the prediction requests (BentoML's `tracing`)."""

    exporter: Literal["otlp"] | None = None
    """Where spans go; null: nowhere, and /predict, /predict_batch and /metadata are not traced at all.

    BentoML creates spans for every request even when nothing exports them (their ids only decorate
    the access log); on the 2-core benchmark machine that cost half the throughput at 64 concurrent
    requests, so without an exporter the API routes are left out of tracing.
    """
    endpoint: str | None = Field(default=None, pattern=r"^(https?)://[^\s]+$")
    """OTLP collector URL, e.g. http://localhost:4318/v1/traces (HTTP) or http://localhost:4317 (gRPC).

    Headers a collector needs (an API key) go in OTEL_EXPORTER_OTLP_HEADERS, which the exporter
    reads itself, so they never land in generated files.
    """
    protocol: Literal["http", "grpc"] = "http"
    """OTLP transport."""
    sample_rate: Fraction = 1.0
    """Share of requests whose spans are exported."""

    @field_validator("endpoint", mode="before")
    @classmethod
    def _endpoint_is_a_url(cls, endpoint: object) -> object:
        if isinstance(endpoint, str) and not re.match(r"^https?://\S+$", endpoint):
            raise ValueError(
                f"{endpoint!r} is not a collector URL; write it with its scheme, e.g. http://{endpoint.split('://')[-1]}"
            )
        return endpoint

    @model_validator(mode="after")
    def _endpoint_with_exporter(self) -> Tracing:
        if self.exporter is None and self.endpoint is not None:
            raise ValueError("`endpoint` needs `exporter: otlp`")
        if self.exporter is not None and self.endpoint is None:
            raise ValueError("exporter otlp needs an `endpoint`, e.g. http://localhost:4318/v1/traces")
        return self


class ServingConfig(StrictModel):
    """The BentoML service that answers predictions."""

    service_name: Name = "predictor"
    """BentoML service name."""
    model: str | None = None
    """Which registered version to serve: name@stage-or-alias or name:version; default `<model.name>@production`."""
    inputs: list[ColumnName] = Field(default_factory=list)
    """Request fields; empty means exactly the data features."""
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    """HTTP port."""
    workers: PositiveInt = 1
    """Worker processes."""
    resources: Resources = Field(default_factory=Resources)
    """Per-replica resources."""
    batching: Batching = Field(default_factory=Batching)
    """Adaptive batching."""
    limits: Limits = Field(default_factory=Limits)
    """Overload and input limits."""
    rollout: Rollout = Field(default_factory=Rollout)
    """Traffic policy for new versions."""
    log_inferences: bool = True
    """Record inputs and outputs for monitoring (details in `inference_log`)."""
    log_sample_rate: Fraction = 1.0
    """Share of requests written to the inference log."""
    inference_log: InferenceLog = Field(default_factory=InferenceLog)
    """Queue and rotation of the inference log."""
    reload_s: PositiveFloat = 30.0
    """How often a replica asks the registry whether the served stage or alias moved."""
    access_log: bool = True
    """BentoML's access log: one line per request (method, path, status, sizes, latency) on the server's output."""
    tracing: Tracing = Field(default_factory=Tracing)
    """OpenTelemetry tracing of requests; off unless an exporter is set."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable holding the API key; when set, requests need header `X-API-Key`."""
    bento_store: str | None = Field(default=None, min_length=1)
    """BentoML home that `mlops-declare build` and the deploy step build bentos into (its `bentos/` folder holds
    them; `BENTOML_HOME=<this> bentoml serve TAG`); relative to the project root; default `<project.home>/bentos`."""

    _model_is_a_reference = field_validator("model")(check_model_reference)

    @field_validator("inputs")
    @classmethod
    def _unique(cls, inputs: list[str]) -> list[str]:
        duplicates = sorted({name for name in inputs if inputs.count(name) > 1})
        if duplicates:
            raise ValueError(f"inputs listed twice: {', '.join(duplicates)}")
        return inputs
