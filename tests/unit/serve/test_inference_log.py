"""The inference log writer: seams.py's schema, rotation by rows and time, drops counted, atomic parts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_declare.contracts.seams import INFERENCE_LOG_VERSION
from mlops_declare.serve.inference_log import InferenceLogWriter

FEATURES = [("age", "numeric"), ("city", "categorical"), ("image", "image")]


def row(index: int) -> dict[str, Any]:
    return {
        "request_id": f"r{index}",
        "timestamp": datetime(2026, 11, 30, 12, 0, index, tzinfo=UTC),
        "model_name": "m",
        "model_version": 3,
        "variant": "primary",
        "served": True,
        "latency_ms": 1.5,
        "prediction": "yes",
        "prediction_value": 0.9,
        "probabilities": [0.1, 0.9],
        "age": float(index),
        "city": None,
        "image": [0.0, 1.0],
    }


def writer(folder: Path, **options: Any) -> InferenceLogWriter:
    settings = {"queue_size": 100, "part_max_rows": 1000, "part_max_seconds": 60.0, **options}
    return InferenceLogWriter(folder, FEATURES, ["no", "yes"], **settings)


def test_parts_follow_the_seam_and_duckdb_reads_them(tmp_path: Path) -> None:
    import duckdb
    import pyarrow.parquet as pq

    log = writer(tmp_path, part_max_rows=3)
    log.submit([row(index) for index in range(7)])
    log.close()
    parts = sorted(tmp_path.glob("date=2026-11-30/part-*.parquet"))
    assert len(parts) == 3  # 3 + 3 + 1 rows
    assert not list(tmp_path.rglob(".*"))
    metadata = pq.read_schema(parts[0]).metadata
    assert metadata[b"mlops_declare.inference_log_version"].decode() == INFERENCE_LOG_VERSION
    assert json.loads(metadata[b"mlops_declare.class_names"]) == ["no", "yes"]
    rows = duckdb.sql(
        f"select request_id, age, city, image, date from read_parquet('{tmp_path}/*/*.parquet', hive_partitioning = true) order by age"
    ).fetchall()
    assert [r[0] for r in rows] == [f"r{i}" for i in range(7)]
    assert rows[0][2] is None and rows[0][3] == [0.0, 1.0] and str(rows[0][4]) == "2026-11-30"


def test_a_part_closes_after_part_max_seconds(tmp_path: Path) -> None:
    log = writer(tmp_path, part_max_seconds=0.2)
    log.submit([row(1)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list(tmp_path.glob("*/*.parquet")):
        time.sleep(0.05)
    assert len(list(tmp_path.glob("*/*.parquet"))) == 1  # written without close and without more rows
    log.close()


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    drops: list[int] = []
    log = writer(tmp_path, queue_size=2, on_drop=drops.append, start=False)
    # Nothing drains the queue before start(): a submit that waited for room would never return.
    assert log.submit([row(index) for index in range(5)]) == 2  # what the service adds to its rows counter
    assert log.dropped == 3 and drops == [3]
    log.start()
    log.close()
    import pyarrow.parquet as pq

    assert sum(pq.read_metadata(part).num_rows for part in tmp_path.glob("*/*.parquet")) == 2


@pytest.mark.parametrize("name", ["prediction", "date"])
def test_a_feature_named_like_a_fixed_column_is_refused_at_compile_time(name: str) -> None:
    from mlops_declare.compiler.checks import check_serving
    from mlops_declare.config import load_config

    loaded = load_config("conf", ["data=generated", f"data.source.columns.0.name={name}"])
    problems = list(check_serving(loaded.config))
    assert [path for path, _ in problems] == ["data.columns.features"] and repr(name) in problems[0][1]


def test_rows_held_as_arrow_chunks_reach_their_day_and_part(tmp_path: Path) -> None:
    import duckdb

    from mlops_declare.serve.inference_log import CHUNK_ROWS

    count = CHUNK_ROWS * 2 + 5
    rows = [row(index % 60) | {"request_id": f"r{index}"} for index in range(count)]
    for index in range(0, count, 2):  # every other row the next day: each chunk holds both days
        rows[index]["timestamp"] = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    log = writer(tmp_path, queue_size=count, part_max_rows=CHUNK_ROWS + 100)
    log.submit(rows)
    log.close()
    assert log.dropped == 0
    found = duckdb.sql(
        f"select date, count(*), count(distinct request_id) from read_parquet('{tmp_path}/*/*.parquet', hive_partitioning = true) "
        "group by date order by date"
    ).fetchall()
    assert [(str(day), total, distinct) for day, total, distinct in found] == [
        ("2026-11-30", count // 2, count // 2),
        ("2026-12-01", count - count // 2, count - count // 2),
    ]
    # A part closes by rows across chunk boundaries (1,124 rows), the rest at close; each spans both days: four files.
    assert len(list(tmp_path.glob("*/part-*.parquet"))) == 4


def test_the_writer_schema_is_the_contract_declaration(tmp_path: Path) -> None:
    """One definition: the fixed columns and feature types of contracts.seams, in order, as Arrow types."""
    import pyarrow as pa

    from mlops_declare.contracts.seams import (
        FEATURE_ARROW_TYPES,
        INFERENCE_LOG_METADATA_CLASSES,
        INFERENCE_LOG_METADATA_VERSION,
        INFERENCE_LOG_SCHEMA,
    )
    from mlops_declare.serve.inference_log import arrow_schema

    schema = writer(tmp_path).schema()
    assert schema == arrow_schema([*FEATURES, ("prediction", "numeric")], ["no", "yes"])  # a clash is left out
    fixed = [(field.name, str(field.type)) for field in schema][: len(INFERENCE_LOG_SCHEMA)]
    # pyarrow spells float64 "double" and list<float64> "list<item: double>": compare through the parsed types.
    assert [name for name, _ in fixed] == [name for name, _ in INFERENCE_LOG_SCHEMA]
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("probabilities").type == pa.list_(pa.float64())
    features = {field.name: field.type for field in schema if field.name in dict(FEATURES)}
    assert features == {"age": pa.float64(), "city": pa.string(), "image": pa.list_(pa.float64())}
    assert set(FEATURE_ARROW_TYPES) == {"numeric", "categorical", "image"}
    assert schema.metadata[INFERENCE_LOG_METADATA_VERSION.encode()] == INFERENCE_LOG_VERSION.encode()
    assert json.loads(schema.metadata[INFERENCE_LOG_METADATA_CLASSES.encode()]) == ["no", "yes"]
