"""The `ingest` and `validate_data` steps, run as the local runner and Airflow tasks run them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlops_declare.config import load_config
from mlops_declare.data import DataValidationError
from mlops_declare.errors import DataError
from mlops_declare.steps import StepError
from tests.conftest import edit_yaml
from tests.runner import run_step_json


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_ingest_then_validate_is_idempotent(project: Path) -> None:
    loaded = load_config(project / "conf", ["data=generated"])
    first = run_step_json("ingest", loaded, project, "run-1", "2026-11-26")
    dataset = project / first["dataset_dir"]
    assert first["dataset_dir"] == ".mlops/runs/run-1/data"
    before = _snapshot(dataset)
    again = run_step_json("ingest", loaded, project, "run-1", "2026-11-26")
    assert again == first and _snapshot(dataset) == before
    validated = run_step_json("validate_data", loaded, project, "run-1", "2026-11-26", upstream={"ingest": first})
    assert validated["fingerprint"] == first["fingerprint"]
    assert validated["outcome"] == "passed" and validated["expectations"] == {"passed": 2}
    recorded = json.loads((project / ".mlops" / "runs" / "run-1" / "steps" / "ingest.json").read_text())
    assert recorded["rows"]["splits"] == {"train": 3500, "val": 750, "test": 750}


def test_warnings_are_surfaced_by_validate_data(project: Path) -> None:
    edit_yaml(project / "conf" / "data" / "generated.yaml", "    max: 0.2\n", "    max: 0.01\n")
    loaded = load_config(project / "conf", ["data=generated"])
    ingested = run_step_json("ingest", loaded, project, "run-w", "2026-11-26")
    validated = run_step_json("validate_data", loaded, project, "run-w", "2026-11-26", upstream={"ingest": ingested})
    assert validated["outcome"] == "warned"
    assert validated["warnings"] == ["data.expectations[1] max_null_fraction"]


def test_failing_expectation_stops_ingest_and_keeps_the_report(project: Path) -> None:
    edit_yaml(project / "conf" / "data" / "generated.yaml", "    policy: warn\n", "    policy: fail\n")
    edit_yaml(project / "conf" / "data" / "generated.yaml", "    max: 0.2\n", "    max: 0.01\n")
    loaded = load_config(project / "conf", ["data=generated"])
    with pytest.raises(DataValidationError, match=r"data\.expectations\[1\] max_null_fraction column 'x3'") as caught:
        run_step_json("ingest", loaded, project, "run-f", "2026-11-26")
    assert str(caught.value).endswith("full report: .mlops/runs/run-f/data_rejected.json")
    run_dir = project / ".mlops" / "runs" / "run-f"
    assert not (run_dir / "data").exists()
    assert json.loads((run_dir / "data_rejected.json").read_text())["outcome"] == "failed"
    with pytest.raises(StepError, match=r"step 'validate_data' needs the results of 'ingest'"):
        run_step_json("validate_data", loaded, project, "run-f", "2026-11-26")


def test_validate_data_detects_tampered_splits(project: Path) -> None:
    loaded = load_config(project / "conf", ["data=generated"])
    result = run_step_json("ingest", loaded, project, "run-t", "2026-11-26")
    train = project / result["dataset_dir"] / "train.parquet"
    pq.write_table(pq.read_table(train).slice(10), train)
    with pytest.raises(DataError, match=r"was changed after it was written"):
        run_step_json("validate_data", loaded, project, "run-t", "2026-11-26", upstream={"ingest": result})
