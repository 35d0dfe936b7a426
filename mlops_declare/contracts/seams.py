"""The three seams that close the loop, written down once: the inference log, the retrain trigger
and the deployed reference. Serving, monitoring and orchestration each build on one side of a seam;
this module is the contract between them (names and constants only, no heavy imports).

Inference log (serving writes, monitoring reads)
-------------------------------------------------
Where: ``<project.home>/inferences/`` (``INFERENCE_LOG_FOLDER``), hive-partitioned by UTC day:
``inferences/date=YYYY-MM-DD/part-<UTC yyyymmddTHHMMSS>-<pid>-<sequence>.parquet``. A part is
written to a dot-prefixed temporary name in the same folder, fsynced, then renamed, so a reader
that globs ``inferences/*/*.parquet`` never sees a partial file. DuckDB reads it directly:
``read_parquet('.mlops/inferences/*/*.parquet', hive_partitioning = true)``.

One row per sampled prediction (a shadow or canary request gives one row per variant). Columns:

==================  ==========================  ==============================================
column              Arrow type                  meaning
==================  ==========================  ==============================================
request_id          string                      id of the HTTP request (X-Request-ID if sent)
timestamp           timestamp[us, tz=UTC]       when the request arrived
model_name          string                      registry name
model_version       int64                       registry version that predicted
variant             string                      ``primary`` | ``canary`` | ``shadow``
served              bool                        this row's prediction was the answer returned
latency_ms          float64                     model time for this row's request
prediction          string (nullable)           predicted class name (classification)
prediction_value    float64 (nullable)          regression output, or the predicted class's probability
probabilities       list<float64> (nullable)    class probabilities in ``class_names`` order
<feature name>      as in the data schema       each input feature, raw (before preprocessing):
                                                numeric -> float64, categorical -> string,
                                                image/sequence -> list<float64>; null when missing
==================  ==========================  ==============================================

(plus ``date``, the hive partition key, when read with ``hive_partitioning``). A feature whose name
equals one of the fixed columns is refused at compile time (``INFERENCE_LOG_COLUMNS``). The Parquet
key-value metadata holds ``mlops_declare.inference_log_version`` (``INFERENCE_LOG_VERSION``) and
``mlops_declare.class_names`` (JSON list). Delayed labels join on ``request_id``.

Retrain trigger (monitoring emits, the training DAG is scheduled on it)
------------------------------------------------------------------------
An Airflow Asset, URI ``retrain_asset_uri(project, model)`` =
``mlops-declare://<project>/<model>/retrain``. The monitoring DAG's last step emits an event on it
only when the check asks for a retrain (dataset drift or a performance breach, and at least
``orchestration.triggers.min_retrain_interval_hours`` since the last drift-triggered retrain); the
event's ``extra`` is the ``RetrainRequest`` dict below. When ``orchestration.triggers.drift`` is on,
the training DAG's schedule includes this Asset; its steps receive the event (``StepContext.trigger``)
and ``register`` records it in the new version's lineage (``lineage.extra["trigger"]``). Outside
Airflow the same dict is appended as a JSON line to ``<project.home>/triggers/retrain.jsonl``
(``RETRAIN_REQUESTS_FILE``); ``mlops-declare run --trigger-file FILE`` starts a training run from
its newest line (the file is read, not emptied).

RetrainRequest: ``{"reason": "drift" | "performance" | "manual", "model": "<name>:<version>",
"check_id": <monitoring check id>, "window": {"start": iso, "end": iso, "rows": n},
"verdict": {"dataset_drift": bool, "drift_share": float, "drifted_columns": [...],
"multivariate": {...}, "performance": {...}}, "requested_at": iso}``.

Deployed reference (deploy moves it, services swap to it)
----------------------------------------------------------
``serving.model``, a registry reference ``name@label`` (default ``<model.name>@production``), is
what a running service follows. Only a gated registry move changes which version holds the label
(``promote``/``rollback``, or the training DAG's ``promote`` step when the label is in
``registry.auto_promote``); every move is in the append-only history. The ``deploy`` step builds
the bento of the version that now holds the label and appends a deployment record
(``Registry.record_deployment``: target ``bento:<tag>``, status ``built``). Replicas poll the
registry every ``serving.reload_s`` seconds; when the label points at another version they load,
verify and warm it in the background, swap atomically and append a deployment record (target
``service:<service_name>@<host>``, status ``serving``); a version that fails verification is
recorded with status ``refused`` and the old one keeps serving. Replicas and monitors open the
registry read-only (``open_registry(config, root, read_only=True)``: no migration, no write, RegistryError
naming ``mlops-declare registry upgrade`` when the schema is not current); a record is a write, made
through a separate short-lived writable open. Statuses are ``registry.records.DeploymentStatus``
(``built``, ``serving``, ``refused``, ``stopped``); ``mlops-declare registry deployments NAME`` lists
the records newest first.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

INFERENCE_LOG_FOLDER = "inferences"
"""Folder under ``project.home`` that holds the inference log."""

INFERENCE_LOG_VERSION = "1"
"""Written to each part's Parquet metadata; bump when a column changes meaning."""

INFERENCE_LOG_SCHEMA: tuple[tuple[str, str], ...] = (
    ("request_id", "string"),
    ("timestamp", "timestamp[us, tz=UTC]"),
    ("model_name", "string"),
    ("model_version", "int64"),
    ("variant", "string"),
    ("served", "bool"),
    ("latency_ms", "float64"),
    ("prediction", "string"),
    ("prediction_value", "float64"),
    ("probabilities", "list<float64>"),
)
"""The fixed columns of a part, in order, with their Arrow types (the writer and every reader build
their pyarrow schema from this one declaration: `mlops_declare.serve.inference_log.arrow_schema`)."""

FEATURE_ARROW_TYPES: dict[str, str] = {"numeric": "float64", "categorical": "string", "image": "list<float64>"}
"""Arrow type of a feature column by the feature's type; feature columns follow the fixed ones."""

INFERENCE_LOG_METADATA_VERSION = "mlops_declare.inference_log_version"
INFERENCE_LOG_METADATA_CLASSES = "mlops_declare.class_names"
"""Parquet key-value metadata keys of every part."""

PARTITION_COLUMN = "date"
"""The hive partition key (``date=YYYY-MM-DD`` folders), a column when read with hive partitioning."""

INFERENCE_LOG_COLUMNS: tuple[str, ...] = (*(name for name, _ in INFERENCE_LOG_SCHEMA), PARTITION_COLUMN)
"""Fixed columns of the inference log (feature columns follow them); no feature may take one of these names."""

VARIANTS: tuple[str, ...] = ("primary", "canary", "shadow")
"""Values of the ``variant`` column."""

RETRAIN_REQUESTS_FILE = "triggers/retrain.jsonl"
"""Outside Airflow, retrain requests are appended here (relative to ``project.home``)."""

RetrainReason = Literal["drift", "performance", "manual"]
RETRAIN_REASONS: tuple[RetrainReason, ...] = ("drift", "performance", "manual")


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrainWindow(_Contract):
    start: str | None
    end: str | None
    rows: int | None


class RetrainVerdict(_Contract):
    dataset_drift: bool
    drift_share: float
    drifted_columns: tuple[str, ...] = ()
    multivariate: dict[str, dict[str, Any]] = Field(default_factory=dict)
    performance: dict[str, float | None] = Field(default_factory=dict)


class RetrainRequest(_Contract):
    """Why monitoring asks for a retrain: the extra of the retrain Asset event, a line of retrain.jsonl."""

    reason: RetrainReason
    model: str
    """`<name>:<version>` of the model that was checked."""
    check_id: int | None
    window: RetrainWindow
    verdict: RetrainVerdict
    requested_at: str


TriggerKind = Literal["asset_event", "dag_run_conf", "backfill", "retrain_request"]


class Trigger(_Contract):
    """What started a run, in one shape wherever the step runs (Airflow worker, pod, local runner).

    - ``asset_event``: the first triggering Asset event (``asset`` URI, ``timestamp``, its ``extra``;
      the retrain Asset's extra is a RetrainRequest);
    - ``dag_run_conf``: a run started with a conf (``airflow dags trigger --conf``), ``extra`` is the conf;
    - ``backfill``: a backfill run (``extra`` its conf);
    - ``retrain_request``: ``mlops-declare run --trigger-file FILE`` (``extra`` the newest request).
    """

    kind: TriggerKind
    extra: dict[str, Any] = Field(default_factory=dict)
    asset: str | None = None
    timestamp: str | None = None
    run_type: str | None = None

    def retrain_request(self) -> RetrainRequest | None:
        """The RetrainRequest this trigger carries, if its extra is one."""
        try:
            return RetrainRequest.model_validate(self.extra)
        except ValueError:
            return None


LogicalDateSource = Literal["given", "logical_date", "asset_event", "run_after", "start_date", "now"]


class RunContext(_Contract):
    """What a runner knows about the run a task belongs to: handed to pods as one JSON argument."""

    run_id: str
    """The run folder's name (`contracts.layouts.run_folder_name`), the same for every task of the run."""
    engine_run_id: str | None = None
    """The orchestrator's own id of the run (Airflow's `run_id`), when there is one."""
    logical_date: str
    """YYYY-MM-DD."""
    logical_date_source: LogicalDateSource = "given"
    trigger: Trigger | None = None


def retrain_asset_uri(project: str, model: str) -> str:
    """The Airflow Asset the monitoring DAG emits and the training DAG is scheduled on."""
    return f"mlops-declare://{project}/{model}/retrain"


def promoted_asset_uri(project: str, model: str) -> str:
    """The Airflow Asset the training DAG's promote step emits when a version enters a stage."""
    return f"mlops-declare://{project}/{model}/promoted"
