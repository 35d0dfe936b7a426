"""Model packages: identical outputs after a round trip, every file present, and no pickle ever loaded."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_declare.errors import TrainingError
from mlops_declare.train.data import TrainingData
from mlops_declare.train.fit import TrainingResult, train_model
from mlops_declare.train.networks import build_network
from mlops_declare.train.package import (
    SPEC_FILE,
    WEIGHTS_FILE,
    export_package,
    load_checkpoint_state,
    load_package,
)
from tests.unit.train.conftest import example_config


@pytest.fixture(scope="module")
def trained(cancer_data: TrainingData, tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    loaded = example_config("trainer.max_epochs=2", "model.hidden=[16,8]", "model.batch_norm=true")
    return train_model(loaded, cancer_data, tmp_path_factory.mktemp("run"))


@pytest.fixture
def package_copy(trained: TrainingResult, tmp_path: Path) -> Path:
    assert trained.package_dir is not None
    return Path(shutil.copytree(trained.package_dir, tmp_path / "model"))


def test_package_holds_weights_spec_metrics_and_config(trained: TrainingResult) -> None:
    assert trained.package_dir is not None
    names = {path.name for path in trained.package_dir.iterdir()}
    assert {"weights.safetensors", "model_spec.json", "metrics.json", "config.json"} <= names
    metrics = json.loads((trained.package_dir / "metrics.json").read_text())
    assert set(metrics) == {"val", "test"}
    assert set(metrics["test"]) == {"accuracy", "f1", "auroc", "precision", "recall", "loss"}
    spec = json.loads((trained.package_dir / SPEC_FILE).read_text())
    assert spec["architecture"]["hidden"] == [16, 8]
    assert spec["input_schema"]["shape"] == [30]
    assert spec["class_names"] == ["0", "1"]
    assert spec["precision_used"] == "32-true"
    assert spec["weights_from"].startswith("best checkpoint")


def test_round_trip_gives_identical_outputs(trained: TrainingResult, cancer_data: TrainingData) -> None:
    assert trained.package_dir is not None
    features = cancer_data.splits["test"][0]
    first = load_package(trained.package_dir)
    second = load_package(trained.package_dir)
    assert np.array_equal(first.outputs(features), second.outputs(features))
    # Re-exporting the loaded network and loading it again changes nothing either.
    again = export_package(trained.package_dir.parent / "again", first.network, first.spec, {"val": {}, "test": {}}, {})
    assert np.array_equal(load_package(again).predict(features), first.predict(features))


def test_package_metrics_match_its_predictions(trained: TrainingResult, cancer_data: TrainingData) -> None:
    assert trained.package_dir is not None
    features, targets = cancer_data.splits["test"]
    probabilities = load_package(trained.package_dir).predict(features)
    accuracy = float(((probabilities >= 0.5).astype(np.int64) == targets).mean())
    assert accuracy == pytest.approx(trained.metrics["test"]["accuracy"], abs=1e-6)


def test_a_pickled_weights_file_is_refused(package_copy: Path) -> None:
    state = load_package(package_copy).network.state_dict()
    torch.save(state, package_copy / WEIGHTS_FILE)  # a zip of pickles, as torch.save writes
    # Whoever swaps the weights can update the digest as well: the format check must still refuse.
    spec = json.loads((package_copy / SPEC_FILE).read_text())
    spec["files"][WEIGHTS_FILE] = hashlib.sha256((package_copy / WEIGHTS_FILE).read_bytes()).hexdigest()
    (package_copy / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(TrainingError, match="not a safetensors file; model packages never load pickled weights"):
        load_package(package_copy)


def test_a_modified_file_is_refused(package_copy: Path) -> None:
    metrics = package_copy / "metrics.json"
    metrics.write_text(metrics.read_text().replace("accuracy", "accurac"))
    with pytest.raises(TrainingError, match="metrics.json: sha256 does not match model_spec.json"):
        load_package(package_copy)


def test_a_spec_may_not_point_outside_the_package(package_copy: Path) -> None:
    spec = json.loads((package_copy / SPEC_FILE).read_text())
    spec["files"]["../escape.json"] = "0" * 64
    (package_copy / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(TrainingError, match="leaves the package directory"):
        load_package(package_copy)


def test_weights_that_do_not_fit_the_architecture_are_refused(package_copy: Path) -> None:
    spec = json.loads((package_copy / SPEC_FILE).read_text())
    spec["architecture"]["hidden"] = [16, 9]
    (package_copy / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(TrainingError, match="weights do not fit the architecture"):
        load_package(package_copy)


def test_checkpoints_load_with_weights_only(trained: TrainingResult) -> None:
    assert trained.best_checkpoint is not None
    state = load_checkpoint_state(Path(trained.best_checkpoint))
    assert any(key.startswith("network.layers.0") for key in state)


class Payload:
    """Stands for an object a malicious checkpoint would smuggle in."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_checkpoints_with_arbitrary_objects_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(TrainingError, match="refused to load checkpoint: it holds objects other than tensors"):
        load_checkpoint_state(path)
    assert "this must never run" not in capsys.readouterr().out


def test_export_replaces_an_existing_package_whole(trained: TrainingResult, tmp_path: Path) -> None:
    assert trained.package_dir is not None
    package = load_package(trained.package_dir)
    target = tmp_path / "model"
    export_package(target, package.network, package.spec, {"val": {}, "test": {}}, {})
    (target / "stray.txt").write_text("left from an older export")
    smaller = build_network({**package.architecture, "hidden": [4]})
    export_package(target, smaller, {**package.spec, "architecture": {**package.architecture, "hidden": [4]}}, {}, {})
    assert not (target / "stray.txt").exists()
    assert load_package(target).architecture["hidden"] == [4]
    assert not list(tmp_path.glob(".model.*"))
