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


def test_improvement_on_an_unknown_metric_needs_a_direction() -> None:
    threshold = {"metric": "custom_score", "min_improvement": 0.1}
    with pytest.raises(ValidationError, match="direction of metric 'custom_score' cannot be inferred"):
        Threshold.model_validate(threshold)
    assert not Threshold.model_validate({**threshold, "direction": "lower_is_better"}).higher_is_better
    assert Threshold.model_validate({"metric": "custom_score", "min": 0.5}).higher_is_better
    assert not Threshold.model_validate({"metric": "mse", "max": 0.5}).higher_is_better


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
