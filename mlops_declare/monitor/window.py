"""The current window: the newest rows of the inference log (the serving seam, see
mlops_declare/contracts/seams.py) of one model, or a file.

The fixed columns and their Arrow types come from `contracts.seams.INFERENCE_LOG_SCHEMA`, the one
declaration the serving writer uses too: a window read from the log always has them, in that order
and with those types, feature columns after them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlops_declare.contracts.seams import (
    INFERENCE_LOG_FOLDER,
    INFERENCE_LOG_METADATA_CLASSES,
    PARTITION_COLUMN,
)
from mlops_declare.data.log_schema import arrow_schema
from mlops_declare.monitor.errors import MonitoringError


def inference_log_schema() -> pa.Schema:
    """The fixed columns of the inference log, as `contracts.seams.INFERENCE_LOG_SCHEMA` declares them."""
    return arrow_schema()


def conform_to_log_schema(table: pa.Table) -> pa.Table:
    """The table with the log's fixed columns first, cast to their declared types (null where a part
    lacked one), then its other (feature) columns as they are."""
    schema = inference_log_schema()
    columns: list[pa.ChunkedArray | pa.Array] = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            columns.append(column if column.type == field.type else column.cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    features = [name for name in table.column_names if name not in schema.names]
    return pa.Table.from_arrays(
        [*columns, *(table.column(name) for name in features)],
        schema=pa.schema([*schema, *(table.schema.field(name) for name in features)]),
    )


@dataclass(frozen=True)
class Window:
    """Rows to check and where they came from."""

    table: pa.Table
    source: str
    start: str | None = None
    end: str | None = None
    class_names: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "start": self.start, "end": self.end, "rows": self.table.num_rows}


def empty_window(source: str) -> Window:
    """A window without rows, with the log's fixed columns."""
    return Window(inference_log_schema().empty_table(), source)


def inference_log_parts(home: Path) -> list[Path]:
    """The finished parts of the inference log (temporary dot-files are never listed)."""
    folder = home / INFERENCE_LOG_FOLDER
    return sorted(path for path in folder.glob("*/*.parquet") if not path.name.startswith("."))


def read_inference_window(
    home: Path,
    model_name: str,
    model_version: int | None = None,
    last_rows: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """Served rows of `model_name` (one per request), newest `last_rows` or those in [start, end)."""
    import duckdb

    parts = inference_log_parts(home)
    if not parts:
        raise MonitoringError(
            f"no inference log under {home / INFERENCE_LOG_FOLDER}; serve the model with logging on, or pass --current FILE"
        )
    conditions = ["model_name = $model", "served"]
    parameters: dict[str, Any] = {"model": model_name, "files": [str(part) for part in parts]}
    if model_version is not None:
        conditions.append("model_version = $version")
        parameters["version"] = model_version
    if start is not None:
        conditions.append("timestamp >= $start")
        parameters["start"] = start
    if end is not None:
        conditions.append("timestamp < $end")
        parameters["end"] = end
    limit = f" LIMIT {int(last_rows)}" if last_rows is not None else ""
    query = (
        f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM read_parquet($files, hive_partitioning = true, union_by_name = true) "
        f"WHERE {' AND '.join(conditions)} ORDER BY timestamp DESC{limit}"
    )
    connection = duckdb.connect()
    try:
        table = connection.sql(query, params=parameters).to_arrow_table()
    finally:
        connection.close()
    table = table.take(pa.array(list(range(table.num_rows - 1, -1, -1)))) if table.num_rows else table
    table = conform_to_log_schema(table)
    first, last = _bounds(table)
    return Window(table, f"inference log {home / INFERENCE_LOG_FOLDER}", first, last, _class_names(parts[-1]))


def _bounds(table: pa.Table) -> tuple[str | None, str | None]:
    if table.num_rows == 0 or "timestamp" not in table.column_names:
        return None, None
    import pyarrow.compute as pc

    low, high = pc.min(table.column("timestamp")).as_py(), pc.max(table.column("timestamp")).as_py()
    return low.isoformat(), high.isoformat()


def _class_names(part: Path) -> list[str] | None:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(part).metadata or {}
    raw = metadata.get(INFERENCE_LOG_METADATA_CLASSES.encode("utf-8"))
    if not raw:
        return None
    names = json.loads(raw)
    return [str(name) for name in names] if isinstance(names, list) else None


def file_window(path: str | Path) -> Window:
    """A Parquet/CSV file as the current window."""
    from mlops_declare.monitor.reference import read_table

    table = read_table(path)
    first, last = _bounds(table)
    return Window(table, str(path), first, last)
