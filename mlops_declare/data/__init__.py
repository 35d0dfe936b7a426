"""The data pipeline: declared sources, DuckDB transforms, expectations, splits, train-fitted
preprocessing, reference profiles and dataset fingerprints.

    prepared = prepare_dataset(config.data, run_dir / "data", logical_date="2026-11-26")
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = prepared.read_split("train")                      # pyarrow.Table
    features = preprocessor.transform_table(train)            # float32 (n, d) or (n, C, H, W)
    labels = preprocessor.target_array(train)                 # int64 classes or float32 values
    record = {"x1": 0.3, "x2": 5.1, "x3": None, "colour": "red"}  # with data=generated
    served = preprocessor.transform_records([record])        # same tensor as the same row's table

A `fail` expectation raises DataValidationError (its `.report` is the full validation report)
and writes nothing; every other failure is a DataError naming source, column and config path.
"""

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
