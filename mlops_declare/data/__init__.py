"""The data pipeline: declared sources, DuckDB transforms, expectations, splits, train-fitted
preprocessing, reference profiles and dataset fingerprints."""

from mlops_declare.data.expectations import QUARANTINE_REASON
from mlops_declare.data.fingerprint import content_hash
from mlops_declare.data.pipeline import DataValidationError, PreparedDataset, prepare_dataset
from mlops_declare.data.preprocessing import Preprocessor
from mlops_declare.data.report import render_summary

__all__ = [
    "QUARANTINE_REASON",
    "DataValidationError",
    "PreparedDataset",
    "Preprocessor",
    "content_hash",
    "prepare_dataset",
    "render_summary",
]
