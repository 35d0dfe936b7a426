"""The `register` and `promote` steps on a copy of the example project, with a real package from disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_declare.config import LoadedConfig, load_config
from mlops_declare.contracts.results import DatasetResult, EvaluationResult, RegistrationResult, TrainResult
from mlops_declare.registry import open_registry
from mlops_declare.steps import StepContext, StepError
from mlops_declare.steps.registry import promote, register
from tests.runner import context_for
from tests.unit.registry.support import make_package


def context(project: Path, run_id: str = "run-1") -> StepContext:
    loaded: LoadedConfig = load_config(project / "conf")
    return context_for(loaded, project, run_id, "2026-11-26")


def _trained(package_dir: str) -> TrainResult:
    return TrainResult(
        package_dir=package_dir,
        metrics={},
        precision_used="32-true",
        precision={},
        objective="accuracy",
        objective_value=None,
        epochs_trained=1,
        weights_from="last",
        best_checkpoint=None,
        pruning=None,
        dataset_fingerprint="d" * 64,
    )


def _dataset(dataset_dir: str = "data/x") -> DatasetResult:
    return DatasetResult(
        dataset_dir=dataset_dir, fingerprint="d" * 64, features=(), target="target", task_hint="binary", rows={}
    )


def _evaluated(package_dir: str) -> EvaluationResult:
    return EvaluationResult(package_dir=package_dir, metrics={}, objective="accuracy", evaluated_on="cpu")


def _register(step: StepContext, package_dir: str, dataset_dir: str = "data/x") -> RegistrationResult:
    return register(step, _evaluated(package_dir), _trained(package_dir), _dataset(dataset_dir))


def test_register_needs_the_train_result(project: Path) -> None:
    with pytest.raises(StepError, match="needs a package from step 'train' .its package_dir is empty."):
        _register(context(project), "")
    with pytest.raises(StepError, match="is not a directory"):
        _register(context(project), "runs/nowhere/model")


def test_register_records_the_run_config_and_dataset(project: Path, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(project),
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        check=True,
    )
    package = make_package(project / ".mlops" / "runs" / "run-1" / "model", accuracy=0.93)
    step = context(project)
    result = _register(step, ".mlops/runs/run-1/model")
    assert result.ref == "breast_cancer:1"
    assert result.metrics["test"]["accuracy"] == 0.93
    with open_registry(step.loaded.config.registry, project, read_only=False) as registry:
        version = registry.resolve("breast_cancer:1")
    lineage = version.lineage
    assert lineage.training_run_id == "run-1"
    assert lineage.config_fingerprint == step.loaded.fingerprint
    assert lineage.config == step.loaded.snapshot
    assert lineage.datasets["test"] == {"fingerprint": "d" * 64, "uri": "data/x"}
    assert lineage.package_version == "0.1.0"
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert lineage.git_commit == head.stdout.strip()
    assert (project / ".mlops" / "registry.db").is_file()
    assert _register(step, ".mlops/runs/run-1/model").version == 1  # the same run again registers nothing new
    assert package.is_dir()


def test_airflow_ids_are_recorded_when_airflow_runs_the_step(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "example_training")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__2026-11-26T00:00:00+00:00")
    make_package(project / "pkg")
    step = context(project)
    _register(step, "pkg")
    with open_registry(step.loaded.config.registry, project, read_only=False) as registry:
        lineage = registry.resolve("breast_cancer:1").lineage
    assert (lineage.airflow_dag_id, lineage.airflow_run_id) == (
        "example_training",
        "scheduled__2026-11-26T00:00:00+00:00",
    )
    assert lineage.git_commit is None  # not a git checkout


def test_promote_moves_through_auto_promote_stages_and_reports_refusals(project: Path) -> None:
    make_package(project / "good", accuracy=0.95)
    make_package(project / "bad", accuracy=0.5)
    good = _register(context(project, "run-good"), "good")
    first = promote(context(project, "run-good"), good, _dataset()).to_json()
    expected = {
        "ref": "breast_cancer:1",
        "blessed": True,
        "promoted": ["staging"],
        "already_held": [],
        "refused": {},
        "holders_rescored_on_this_data": {},
    }
    assert {key: first[key] for key in expected} == expected
    again = promote(context(project, "run-good"), good, _dataset()).to_json()
    assert again["already_held"] == ["staging"] and again["promoted"] == []
    with open_registry(context(project).loaded.config.registry, project, read_only=False) as registry:
        assert registry.resolve("breast_cancer:1").lineage.parent_version is None
        registry.promote("breast_cancer:1", "production", actor="test")
    bad = _register(context(project, "run-bad"), "bad")
    refused = promote(context(project, "run-bad"), bad, _dataset()).to_json()
    assert refused["promoted"] == [] and refused["blessed"] is False
    decision = refused["refused"]["staging"]
    assert decision["decision"] == "NOT_BLESSED"
    assert "test.accuracy = 0.5 is below min 0.8" in [check["message"] for check in decision["checks"]]
    with open_registry(context(project).loaded.config.registry, project, read_only=False) as registry:
        assert registry.resolve(bad.ref).lineage.parent_version == 1  # it would replace production's holder
