"""File layouts that cross layers: the prepared dataset, the model package, a run folder, and the
split names and served-label default every layer agrees on."""

from __future__ import annotations

from mlops_declare.config.data import SPLIT_NAMES
from mlops_declare.config.data import SplitName as SplitName

SPLITS: tuple[SplitName, ...] = SPLIT_NAMES
"""The splits a prepared dataset holds, one Parquet file each (`<split>.parquet`); the config's `split`
names are the same values (declared once, in `mlops_declare.config.data.SplitName`)."""
EVALUATION_SPLITS: tuple[SplitName, ...] = ("val", "test")
"""The splits a model is scored on after training (metrics.json, gates, re-scoring)."""

DEFAULT_SERVED_LABEL = "production"
"""What a service follows when `serving.model` is not set: `<model.name>@production`."""


def default_served_reference(model_name: str) -> str:
    return f"{model_name}@{DEFAULT_SERVED_LABEL}"


# --- the prepared dataset (the `ingest` step writes it, training and monitoring read it) ---------

DATASET_FORMAT = "mlops_declare.dataset/1"
DATASET_FILES: dict[str, str] = {
    "preprocessing": "preprocessing.json",
    "profile": "profile.json",
    "report": "report.json",
    "summary": "report.txt",
    "metadata": "metadata.json",
    "quarantine": "quarantine.parquet",
}
"""Files of a prepared dataset folder besides the split Parquet files."""


def split_file(split: str) -> str:
    return f"{split}.parquet"


# --- the model package (training writes it, the registry stores it, serving loads it) -----------

PACKAGE_FORMAT = "mlops_declare.model/1"
PACKAGE_SPEC_FILE = "model_spec.json"
PACKAGE_WEIGHTS_FILE = "weights.safetensors"
PACKAGE_METRICS_FILE = "metrics.json"
PACKAGE_CONFIG_FILE = "config.json"
PACKAGE_PREPROCESSING_FILE = "preprocessing.json"
PACKAGE_PRUNING_REPORT_FILE = "pruning_report.json"
PACKAGE_REFERENCE_PROFILE_FILE = "reference_profile.json"
"""The drift reference of the training data, carried in the package."""

# --- a run folder: <project.home>/runs/<run id>/ ------------------------------------------------

RUNS_FOLDER = "runs"


def run_folder_name(project: str, role: str, logical_date: str, suffix: str) -> str:
    """`<project>_<dag role>_<logical date>_<suffix>`: how local and Airflow runs name their folder.

    Locally the suffix is the config fingerprint's first 8 hex digits (a rerun of the same config and
    date is the same run); under Airflow it is a digest of the DAG run's id.
    """
    return f"{project}_{role}_{logical_date}_{suffix}"


RUN_PLAN_FILE = "plan.json"
"""The run's snapshot of the project's plan.json, written by `snapshot_config`; later tasks read it."""
RUN_DATASET_FOLDER = "data"
RUN_PACKAGE_FOLDER = "model"
RUN_STEPS_FOLDER = "steps"
"""`<step>.json`: a readable copy of each step's result."""
