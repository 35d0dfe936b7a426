"""Small in-memory datasets from scikit-learn's bundled data, and a one-thread torch for a shared machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlops_declare.config import LoadedConfig, load_config
from mlops_declare.train.data import TrainingData, training_data_from_arrays
from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


def split_three(features: np.ndarray, targets: np.ndarray, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(len(features))
    cut_val, cut_test = int(0.7 * len(order)), int(0.85 * len(order))
    parts = {"train": order[:cut_val], "val": order[cut_val:cut_test], "test": order[cut_test:]}
    return {name: (features[index], targets[index]) for name, index in parts.items()}


def standardise(features: np.ndarray) -> np.ndarray:
    return ((features - features.mean(axis=0)) / (features.std(axis=0) + 1e-6)).astype(np.float32)


@pytest.fixture(scope="session")
def cancer_data() -> TrainingData:
    from sklearn.datasets import load_breast_cancer

    features, targets = load_breast_cancer(return_X_y=True)
    return training_data_from_arrays(split_three(standardise(features), targets))


@pytest.fixture(scope="session")
def digits_data() -> TrainingData:
    from sklearn.datasets import load_digits

    features, targets = load_digits(return_X_y=True)
    images = (features / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return training_data_from_arrays(split_three(images, targets), class_names=[str(digit) for digit in range(10)])


@pytest.fixture(scope="session")
def diabetes_data() -> TrainingData:
    from sklearn.datasets import load_diabetes

    features, targets = load_diabetes(return_X_y=True)
    return training_data_from_arrays(split_three(standardise(features), targets.astype(np.float32)))


def example_config(*overrides: str) -> LoadedConfig:
    """The example project's config with overrides; progress bar off to keep test output short."""
    return load_config(REPO_ROOT / "conf", ["trainer.progress_bar=false", *overrides])
