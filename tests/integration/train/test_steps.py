"""The train and evaluate steps inside a run directory, as the local runner and Airflow tasks call them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_declare.config import load_config
from mlops_declare.steps import StepError
from tests.runner import run_step_json

DATE = "2026-11-26"


def test_train_then_evaluate_and_a_package_without_secrets(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIN_STEP_DB_URL", "sqlite:///very-secret-name.db")
    loaded = load_config(
        project / "conf",
        ["trainer.max_epochs=2", "trainer.progress_bar=false", "registry.store_url=${oc.env:TRAIN_STEP_DB_URL}"],
    )
    ingested = run_step_json("ingest", loaded, project, "r1", DATE)
    validated = run_step_json("validate_data", loaded, project, "r1", DATE, upstream={"ingest": ingested})
    trained = run_step_json(
        "train", loaded, project, "r1", DATE, upstream={"ingest": ingested, "validate_data": validated}
    )
    assert trained["package_dir"] == ".mlops/runs/r1/model"  # relative to the project root: results stay portable
    package = project / trained["package_dir"]
    assert trained["precision_used"] == "32-true"
    config_text = (package / "config.json").read_text()
    assert "very-secret-name" not in config_text
    assert json.loads(config_text)["registry"]["store_url"] == "${oc.env:TRAIN_STEP_DB_URL}"
    assert json.loads(config_text) == loaded.snapshot

    evaluated = run_step_json("evaluate", loaded, project, "r1", DATE, upstream={"train": trained, "ingest": ingested})
    for split, values in trained["metrics"].items():  # the same scores, up to float summation order
        assert evaluated["metrics"][split] == pytest.approx(values, abs=1e-6)

    # A package that no longer reproduces what training recorded fails the evaluate step.
    tampered = json.loads(json.dumps(trained))
    tampered["metrics"]["test"]["accuracy"] = 0.123
    with pytest.raises(
        StepError, match=r"the reloaded package scores differently from training: \{'test.accuracy': \(0.123"
    ):
        run_step_json("evaluate", loaded, project, "r1", DATE, upstream={"train": tampered, "ingest": ingested})


def test_train_needs_the_ingest_result(project: Path) -> None:
    loaded = load_config(project / "conf", ["trainer.progress_bar=false"])
    with pytest.raises(StepError, match="step 'train' needs the results of 'ingest', 'validate_data'"):
        run_step_json("train", loaded, project, "lonely", DATE)


def test_multi_process_ddp_is_refused_outside_the_train_command(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_DECLARE_TRAIN_RUN_ID", raising=False)
    loaded = load_config(project / "conf", ["trainer=ddp_cpu"])
    with pytest.raises(StepError, match="only `mlops-declare train` supports; in pipelines use strategy ddp_spawn"):
        ingested = run_step_json("ingest", loaded, project, "r2", DATE)
        validated = run_step_json("validate_data", loaded, project, "r2", DATE, upstream={"ingest": ingested})
        run_step_json("train", loaded, project, "r2", DATE, upstream={"ingest": ingested, "validate_data": validated})
