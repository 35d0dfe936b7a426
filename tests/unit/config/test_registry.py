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
