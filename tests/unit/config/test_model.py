"""The `model` group: architecture kinds, task and layer sizes."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from mlops_declare.config.model import METRICS_BY_TASK, ModelConfig

ADAPTER: TypeAdapter[ModelConfig] = TypeAdapter(ModelConfig)


def test_kind_selects_the_architecture() -> None:
    model = ADAPTER.validate_python({"kind": "cnn", "name": "digits", "task": "multiclass", "num_classes": 10})
    assert type(model).__name__ == "CnnModel"


def test_num_classes_only_for_multiclass() -> None:
    with pytest.raises(ValidationError, match="`num_classes` is only for task 'multiclass'"):
        ADAPTER.validate_python({"kind": "mlp", "name": "m", "task": "binary", "num_classes": 2})


def test_hidden_sizes_positive() -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "mlp", "name": "m", "task": "binary", "hidden": [64, 0]})


def test_every_task_has_metrics() -> None:
    assert set(METRICS_BY_TASK) == {"binary", "multiclass", "regression"}
    assert "accuracy" in METRICS_BY_TASK["binary"] and "r2" in METRICS_BY_TASK["regression"]
