"""The train and evaluate steps inside a run directory, as the local runner and Airflow tasks call them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_declare.config import load_config
from mlops_declare.steps import StepError, run_step, write_json_atomic

DATE = "2026-11-26"


def test_train_then_evaluate_and_a_package_without_secrets(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIN_STEP_DB_URL", "sqlite:///very-secret-name.db")
    loaded = load_config(
        project / "conf",
        ["trainer.max_epochs=2", "trainer.progress_bar=false", "registry.store_url=${oc.env:TRAIN_STEP_DB_URL}"],
    )
    run_step("ingest", loaded, project, "r1", DATE)
    trained = run_step("train", loaded, project, "r1", DATE)
    package = Path(trained["package_dir"])
    assert package == project / ".mlops" / "runs" / "r1" / "model"
    assert trained["precision_used"] == "32-true"
    config_text = (package / "config.json").read_text()
    assert "very-secret-name" not in config_text
    assert json.loads(config_text)["registry"]["store_url"] == "${oc.env:TRAIN_STEP_DB_URL}"
    assert json.loads(config_text) == loaded.snapshot

    evaluated = run_step("evaluate", loaded, project, "r1", DATE)
    assert evaluated["metrics"] == trained["metrics"]

    # A package that no longer reproduces what training recorded fails the evaluate step.
    record = project / ".mlops" / "runs" / "r1" / "steps" / "train.json"
    tampered = json.loads(record.read_text())
    tampered["metrics"]["test"]["accuracy"] = 0.123
    write_json_atomic(record, tampered)
    with pytest.raises(StepError, match=r"the reloaded package scores differently from training: \{'test.accuracy': \(0.123"):
        run_step("evaluate", loaded, project, "r1", DATE)


def test_train_needs_the_ingest_result(project: Path) -> None:
    loaded = load_config(project / "conf", ["trainer.progress_bar=false"])
    with pytest.raises(StepError, match="step 'train' needs the result of step 'ingest'"):
        run_step("train", loaded, project, "lonely", DATE)


def test_multi_process_ddp_is_refused_outside_the_train_command(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_DECLARE_TRAIN_RUN_ID", raising=False)
    loaded = load_config(project / "conf", ["trainer=ddp_cpu"])
    with pytest.raises(StepError, match="only `mlops-declare train` supports; in pipelines use strategy ddp_spawn"):
        run_step("train", loaded, project, "r2", DATE)
