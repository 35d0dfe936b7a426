"""The `registry` group: stages, gates and aliases."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_declare.config.registry import RegistryConfig, Threshold


def test_threshold_needs_a_condition() -> None:
    with pytest.raises(ValidationError, match="needs `min`, `max` or `min_improvement`"):
        Threshold(metric="accuracy")


def test_ungated_stage_is_an_explicit_choice() -> None:
    config = RegistryConfig.model_validate({"stages": [{"name": "sandbox", "gated": False}]})
    assert config.stages[0].gated is False
    with pytest.raises(ValidationError, match="gated but its gate has no thresholds"):
        RegistryConfig.model_validate({"stages": [{"name": "sandbox"}]})


def test_stage_requirements_must_exist() -> None:
    with pytest.raises(ValidationError, match="requires unknown stage 'qa'"):
        RegistryConfig.model_validate({"stages": [{"name": "production", "gated": False, "requires": "qa"}]})


def test_stage_and_alias_names_do_not_clash() -> None:
    with pytest.raises(ValidationError, match="names used both as stage and alias: production"):
        RegistryConfig.model_validate({"stages": [{"name": "production", "gated": False}], "aliases": ["production"]})


def test_an_unknown_metric_is_refused_not_assumed_higher_is_better() -> None:
    with pytest.raises(ValidationError, match="Input should be 'accuracy', 'f1'"):
        Threshold.model_validate({"metric": "custom_score", "min": 0.5})
    assert not Threshold.model_validate({"metric": "loss", "min_improvement": 0.1}).higher_is_better
    assert Threshold.model_validate(
        {"metric": "loss", "min_improvement": 0.1, "direction": "higher_is_better"}
    ).higher_is_better
    assert not Threshold.model_validate({"metric": "mse", "max": 0.5}).higher_is_better


def test_every_metric_has_a_direction() -> None:
    from typing import get_args

    from mlops_declare.config.model import HIGHER_IS_BETTER, METRICS_BY_TASK, MetricName

    assert set(HIGHER_IS_BETTER) == set(get_args(MetricName))
    assert {name for names in METRICS_BY_TASK.values() for name in names} == set(get_args(MetricName))


def test_latest_is_reserved() -> None:
    with pytest.raises(ValidationError, match="latest is reserved"):
        RegistryConfig.model_validate({"aliases": ["latest"]})
    with pytest.raises(ValidationError, match="latest is reserved"):
        RegistryConfig.model_validate({"stages": [{"name": "latest", "gated": False}]})


def test_stage_requirements_cannot_loop() -> None:
    with pytest.raises(ValidationError, match="requires itself"):
        RegistryConfig.model_validate({"stages": [{"name": "a", "gated": False, "requires": "a"}]})
    stages = [{"name": "a", "gated": False, "requires": "b"}, {"name": "b", "gated": False, "requires": "a"}]
    with pytest.raises(ValidationError, match="cycle: a -> b -> a"):
        RegistryConfig.model_validate({"stages": stages})


def test_aliases_are_declared_once() -> None:
    with pytest.raises(ValidationError, match="aliases declared twice: champion"):
        RegistryConfig.model_validate({"aliases": ["champion", "champion"]})
