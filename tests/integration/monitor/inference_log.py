"""Writes an inference log exactly as mlops_declare/contracts/seams.py describes it (the serving side of the
seam), so the monitor is tested against the agreed format rather than against its own reader."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlops_declare.contracts.seams import INFERENCE_LOG_FOLDER, INFERENCE_LOG_VERSION

_sequence = iter(range(1_000_000))


def write_part(
    home: Path,
    features: pa.Table,
    probabilities: Sequence[Sequence[float]],
    class_names: list[str],
    model_name: str,
    model_version: int,
    start: datetime,
    request_ids: Sequence[str],
) -> Path:
    """One part file of served primary predictions, one row per request, one second apart."""
    rows = features.num_rows
    timestamps = [start + timedelta(seconds=index) for index in range(rows)]
    predicted = [max(range(len(row)), key=lambda position, row=row: row[position]) for row in probabilities]
    columns: dict[str, Any] = {
        "request_id": pa.array(list(request_ids), pa.string()),
        "timestamp": pa.array(timestamps, pa.timestamp("us", tz="UTC")),
        "model_name": pa.array([model_name] * rows, pa.string()),
        "model_version": pa.array([model_version] * rows, pa.int64()),
        "variant": pa.array(["primary"] * rows, pa.string()),
        "served": pa.array([True] * rows, pa.bool_()),
        "latency_ms": pa.array([1.5] * rows, pa.float64()),
        "prediction": pa.array([class_names[index] for index in predicted], pa.string()),
        "prediction_value": pa.array([float(max(row)) for row in probabilities], pa.float64()),
        "probabilities": pa.array([[float(value) for value in row] for row in probabilities], pa.list_(pa.float64())),
    }
    for name in features.column_names:
        column = features.column(name)
        columns[name] = (
            column.cast(pa.float64())
            if pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            else column.cast(pa.string())
        )
    table = pa.table(columns).replace_schema_metadata(
        {
            "mlops_declare.inference_log_version": INFERENCE_LOG_VERSION,
            "mlops_declare.class_names": json.dumps(class_names),
        }
    )
    folder = home / INFERENCE_LOG_FOLDER / f"date={start.astimezone(UTC):%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}-{next(_sequence)}.parquet"
    temporary = folder / f".{name}.tmp"
    pq.write_table(table, temporary)
    with open(temporary, "rb") as stream:
        os.fsync(stream.fileno())
    os.rename(temporary, folder / name)
    return folder / name
