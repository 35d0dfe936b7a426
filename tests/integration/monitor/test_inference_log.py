"""The monitor reads what the serving writer writes (the inference-log seam), both sides real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlops_declare.contracts.seams import INFERENCE_LOG_FOLDER
from mlops_declare.monitor.window import read_inference_window
from mlops_declare.serve.inference_log import InferenceLogWriter


def test_window_of_served_rows_from_the_serving_writer(tmp_path: Path) -> None:
    home = tmp_path / ".mlops"
    writer = InferenceLogWriter(
        home / INFERENCE_LOG_FOLDER,
        [("x", "numeric"), ("c", "categorical")],
        ["no", "yes"],
        queue_size=1000,
        part_max_rows=40,
        part_max_seconds=0.1,
    )
    start = datetime(2026, 11, 29, 23, 50, tzinfo=UTC)  # the window crosses a day partition
    rows = []
    for index in range(100):
        for variant, served, model in (
            ("primary", True, "shop"),
            ("shadow", False, "shop"),
            ("primary", True, "other"),
        ):
            rows.append(
                {
                    "request_id": f"r{index}",
                    "timestamp": start + timedelta(seconds=15 * index),
                    "model_name": model,
                    "model_version": 2,
                    "variant": variant,
                    "served": served,
                    "latency_ms": 1.0,
                    "prediction": "yes",
                    "prediction_value": 0.8,
                    "probabilities": [0.2, 0.8],
                    "x": float(index),
                    "c": "a" if index % 2 else None,
                }
            )
    writer.submit(rows)
    writer.close()
    assert len(list((home / INFERENCE_LOG_FOLDER).glob("date=*/part-*.parquet"))) >= 2
    window = read_inference_window(home, "shop", last_rows=30)
    table = window.table
    assert table.num_rows == 30 and set(table.column("variant").to_pylist()) == {"primary"}
    assert table.column("x").to_pylist() == [float(index) for index in range(70, 100)]  # newest 30, oldest first
    assert window.class_names == ["no", "yes"] and window.start is not None and window.start < window.end
    since = read_inference_window(
        home, "shop", start=datetime(2026, 11, 30, tzinfo=UTC), end=datetime(2026, 11, 30, 0, 5, tzinfo=UTC)
    )
    assert since.table.num_rows == 20 and "date" not in since.table.column_names


def test_the_reader_takes_the_fixed_columns_and_types_from_the_contract(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_declare.contracts.seams import FEATURE_ARROW_TYPES, INFERENCE_LOG_SCHEMA
    from mlops_declare.data.log_schema import arrow_type
    from mlops_declare.monitor.window import empty_window, inference_log_schema
    from tests.integration.monitor.inference_log import write_part

    home = tmp_path / ".mlops"
    features = pa.table({"x": [1.0, 2.0, 3.0], "c": ["a", "b", None]})
    part = write_part(
        home, features, [[0.2, 0.8]] * 3, ["no", "yes"], "shop", 1, datetime(2026, 11, 30, tzinfo=UTC), ["a", "b", "c"]
    )
    # The test writer spells each type out by hand: an independent witness of what the contract means.
    written = pq.read_schema(part)
    assert inference_log_schema() == pa.schema([written.field(name) for name, _ in INFERENCE_LOG_SCHEMA])
    assert {kind: arrow_type(name) for kind, name in FEATURE_ARROW_TYPES.items()} == {
        "numeric": pa.float64(),
        "categorical": pa.string(),
        "image": pa.list_(pa.float64()),
    }
    window = read_inference_window(home, "shop")
    fixed = len(INFERENCE_LOG_SCHEMA)
    assert pa.schema(list(window.table.schema)[:fixed]) == inference_log_schema()
    assert window.table.column_names[fixed:] == ["x", "c"]
    assert window.start == "2026-11-30T00:00:00+00:00" and window.class_names == ["no", "yes"]
    assert empty_window("inference log").table.schema == inference_log_schema()
