"""Every check is recorded in the registry database (SQLite and PostgreSQL) and read back, and
delayed labels can come from a SQL table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlops_declare.config.monitoring import MonitoringConfig, Performance
from mlops_declare.data.profile import profile_table
from mlops_declare.monitor.drift import check_drift
from mlops_declare.monitor.performance import check_performance, load_labels
from mlops_declare.monitor.store import MonitoringStore
from tests.unit.registry.support import Backend


def _check(shift: float) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    reference = pa.table({"x": rng.normal(size=800), "c": pa.array(rng.choice(["a", "b"], 800))})
    current = pa.table({"x": rng.normal(shift, 1.0, size=400), "c": pa.array(rng.choice(["a", "b"], 400))})
    profile = profile_table(reference, {"x": "numeric", "c": "categorical"})
    return check_drift(profile, current, MonitoringConfig())


def test_checks_are_recorded_with_every_column_and_read_back(backend: Backend) -> None:
    store = MonitoringStore.open(backend.store_url)
    try:
        for shift in (0.0, 1.0):
            result = {
                "kind": "monitor",
                "model": {"name": "shop", "version": 3},
                "window": {"start": "2026-11-30T10:00:00+00:00", "end": "2026-11-30T11:00:00+00:00", "rows": 400},
                "drift_result": _check(shift),
                "performance": {
                    "metrics": [
                        {
                            "name": "accuracy",
                            "value": 0.91,
                            "threshold": 0.9,
                            "breached": False,
                            "estimated": True,
                            "rows": 400,
                        }
                    ]
                },
            }
            result["drift"] = result["drift_result"]["drift"]
            store.record(result)
        history = store.history("shop")
        assert [check["drift"] for check in history] == [True, False]  # newest first
        newest = history[0]
        assert (
            newest["model_version"] == 3
            and newest["rows"] == 400
            and newest["window_start"].startswith("2026-11-30T10:00")
        )
        assert {column["column"]: column["drifted"] for column in newest["columns"]} == {"x": True, "c": False}
        assert all(column["score"] is not None and column["method"] for column in newest["columns"])
        names = {metric["name"] for metric in newest["metrics"]}
        assert {"performance.accuracy", "multivariate.domain_classifier", "multivariate.reconstruction"} <= names
        only_x = store.history("shop", column="x")
        assert [[column["column"] for column in check["columns"]] for check in only_x] == [["x"], ["x"]]
        assert store.history("other") == []
    finally:
        store.close()


def test_labels_from_a_sql_table_join_on_request_id(tmp_path: Path) -> None:
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'labels.db'}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE truth (rid TEXT, y INTEGER)")
        connection.exec_driver_sql("INSERT INTO truth VALUES ('r1', 1), ('r2', 0), ('r3', 1)")
    engine.dispose()
    from mlops_declare.config.monitoring import SqlLabels

    labels = load_labels(SqlLabels(kind="sql", url=url, table="truth", id_column="rid", label_column="y"), tmp_path)
    window = pa.table(
        {
            "request_id": ["r1", "r2", "r3", "r4"],
            "prediction": ["1", "1", "1", "0"],
            "probabilities": [[0.1, 0.9], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]],
        }
    )
    result = check_performance(window, labels, ["0", "1"], Performance(metric="f1", min=0.9))
    measured = {metric["name"]: metric for metric in result["metrics"] if not metric["estimated"]}
    assert result["labelled_rows"] == 3
    assert measured["accuracy"]["value"] == pytest.approx(2 / 3) and measured["f1"]["value"] == pytest.approx(0.8)
    assert measured["f1"]["breached"] and measured["f1"]["threshold"] == 0.9
    estimate = next(metric for metric in result["metrics"] if metric["estimated"])
    assert abs(estimate["value"] - np.mean([0.9, 0.6, 0.8, 0.7])) < 1e-9
