"""The `serving` group: model references, resources, batching, limits and rollout."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_declare.config.serving import Rollout, ServingConfig


@pytest.mark.parametrize("reference", ["digits@production", "digits:7", "digits:latest", "my-model.v2@champion"])
def test_model_references_accepted(reference: str) -> None:
    assert ServingConfig(model=reference).model == reference


@pytest.mark.parametrize(
    "reference",
    [
        "../etc@x",
        "digits@",
        "@production",
        "digits@prod/../x",
        "1digits@production",
        "digits",
        "digits:abc",
        "digits:0",
    ],
)
def test_bad_model_references_rejected(reference: str) -> None:
    with pytest.raises(
        ValidationError, match="is not a model reference; expected NAME@STAGE_OR_ALIAS, NAME:VERSION or NAME:latest"
    ):
        ServingConfig(model=reference)


def test_canary_needs_weight_between_zero_and_one() -> None:
    with pytest.raises(ValidationError, match="a canary needs 0 < weight < 1, got 1.0"):
        Rollout(strategy="canary", candidate="digits@staging", weight=1.0)
    assert Rollout(strategy="canary", candidate="digits@staging", weight=0.1).weight == 0.1


def test_replace_rollout_takes_no_candidate() -> None:
    with pytest.raises(ValidationError, match="apply to canary or shadow rollouts only"):
        Rollout(strategy="replace", candidate="digits@staging")


def test_inputs_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="inputs listed twice: a"):
        ServingConfig(inputs=["a", "b", "a"])


def test_serving_config_is_frozen() -> None:
    config = ServingConfig()
    with pytest.raises(ValidationError):
        config.port = 1  # type: ignore[misc]
