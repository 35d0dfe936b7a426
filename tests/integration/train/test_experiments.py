"""Every experiment under conf/experiment trains for one batch (fast_dev_run) on the real data pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_declare.config import load_config
from mlops_declare.data import prepare_dataset
from mlops_declare.train.data import training_data_from_prepared
from mlops_declare.train.fit import train_model
from mlops_declare.train.package import load_package
from tests.conftest import REPO_ROOT

EXPERIMENTS = sorted(path.stem for path in (REPO_ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_the_examples_are_all_here() -> None:
    assert {"breast_cancer_mlp", "digits_cnn", "tabular_transformer"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_fast_dev_run(experiment: str, project: Path) -> None:
    loaded = load_config(project / "conf", [f"experiment={experiment}", "trainer.progress_bar=false"])
    prepared = prepare_dataset(loaded.config.data, project / "data", project_root=project)
    data = training_data_from_prepared(prepared.directory)
    result = train_model(loaded, data, project / "run", fast_dev_run=True)
    assert result.package_dir is not None
    package = load_package(result.package_dir)
    assert package.spec["name"] == loaded.config.model.name
    assert (result.package_dir / "preprocessing.json").read_bytes() == Path(prepared.preprocessing_path).read_bytes()
    assert set(result.metrics) == {"val", "test"}
    assert package.spec["input_schema"]["source_features"] == prepared.feature_names
    features = data.splits["test"][0][:5]
    assert package.predict(features).shape[0] == 5
    records = prepared.read_split("test").slice(0, 5).to_pylist()
    assert np.array_equal(package.predict_records(records), package.predict(features))
