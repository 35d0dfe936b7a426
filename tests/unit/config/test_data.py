"""The `data` group: sources, transforms, expectations and splits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_declare.config.data import DataConfig, builtin_features, declared_features


def _data(**fields: object) -> DataConfig:
    return DataConfig.model_validate({"name": "d", "source": {"kind": "builtin", "dataset": "wine"}, **fields})


def test_builtin_features_known_without_loading() -> None:
    assert len(builtin_features("breast_cancer")) == 30
    assert builtin_features("digits")[0].shape == [1, 8, 8]
    assert [feature.name for feature in declared_features(_data()) or []][:2] == ["alcohol", "malic_acid"]


def test_split_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match="train \\+ val \\+ test must be 1.0, got 0.9"):
        _data(split={"kind": "random", "fractions": {"train": 0.6, "val": 0.15, "test": 0.15}})


def test_role_cannot_also_be_a_feature() -> None:
    with pytest.raises(ValidationError, match="column 'y' is both the target and a feature"):
        _data(columns={"target": "y", "features": [{"name": "y"}]})


def test_image_feature_needs_shape() -> None:
    with pytest.raises(ValidationError, match="an image feature needs a `shape`"):
        _data(columns={"features": [{"name": "img", "type": "image"}]})


def test_unknown_source_kind_rejected() -> None:
    with pytest.raises(ValidationError):
        DataConfig.model_validate({"name": "d", "source": {"kind": "excel", "path": "x.xlsx"}})
