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


REGRESSION_IN_THOUSANDS = [
    "data=generated",
    "data.source.label=linear_regression",
    "data.transforms=[{kind: derive, name: price, expression: 'target * 1000 + 2500'}, {kind: drop, columns: [target]}]",
    "data.columns.target=price",
    "data.expectations=[]",
    "model.task=regression",
    "trainer.objective=mse",
    "trainer.metrics=[mse,mae,r2]",
    "trainer.checkpointing.metric=mse",
    "registry.stages.0.gate.thresholds.0.metric=r2",
    "registry.stages.1.gate.thresholds.0.metric=r2",
    "trainer.max_epochs=3",
    "trainer.progress_bar=false",
    "trainer.early_stopping=null",
]


def test_evaluate_accepts_a_regression_target_in_the_thousands(project: Path) -> None:
    """The reloaded package's mse differs from training's in its last float32 bits (about 2e-3 on 12,000):
    equal relative to the metric's scale, which an absolute 1e-5 bound called a different model."""
    loaded = load_config(project / "conf", REGRESSION_IN_THOUSANDS)
    ingested = run_step_json("ingest", loaded, project, "price", DATE)
    validated = run_step_json("validate_data", loaded, project, "price", DATE, upstream={"ingest": ingested})
    upstream = {"ingest": ingested, "validate_data": validated}
    trained = run_step_json("train", loaded, project, "price", DATE, upstream=upstream)
    assert trained["metrics"]["val"]["mse"] > 1000  # the metric is in target units, squared
    evaluated = run_step_json(
        "evaluate", loaded, project, "price", DATE, upstream={"ingest": ingested, "train": trained}
    )
    for split, values in trained["metrics"].items():
        assert evaluated["metrics"][split] == pytest.approx(values, rel=1e-5)


def test_scores_are_compared_relative_to_their_scale() -> None:
    from mlops_declare.steps.train import score_differences

    # The figures of the failing run reported in issue 20: one float32 ulp apart at 2632.9.
    recorded = {"val": {"mse": 2632.919677734375, "accuracy": 0.95}}
    assert score_differences(recorded, {"val": {"mse": 2632.919921875, "accuracy": 0.95}}, 1e-5) == {}
    assert score_differences(recorded, {"val": {"mse": 2640.0, "accuracy": 0.95}}, 1e-5) == {
        "val.mse": (2632.919677734375, 2640.0)
    }
    assert score_differences(recorded, {"val": {"mse": 2632.919921875, "accuracy": 0.9499}}, 1e-5) == {
        "val.accuracy": (0.95, 0.9499)
    }
