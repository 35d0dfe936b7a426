"""Gate semantics (TFX/MLflow MetricThreshold): absolute bounds, improvement with direction, first-model policy."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_declare.config.registry import Stage
from mlops_declare.registry.gates import Candidate, evaluate


def stage(*thresholds: dict[str, Any], first_model: str = "bless", **extra: Any) -> Stage:
    return Stage.model_validate(
        {"name": "production", "gate": {"first_model": first_model, "thresholds": list(thresholds)}, **extra}
    )


def version(
    number: int,
    accuracy: float | None = None,
    loss: float | None = None,
    fingerprint: str | None = None,
    stages: tuple[str, ...] = (),
) -> Candidate:
    test = {key: value for key, value in (("accuracy", accuracy), ("loss", loss)) if value is not None}
    datasets = {"test": {"fingerprint": fingerprint}} if fingerprint else {}
    return Candidate(number, {"test": test}, datasets, stages)


def test_absolute_bounds_pass_and_fail_with_numbers() -> None:
    gate = stage({"metric": "accuracy", "min": 0.9, "max": 0.99})
    assert evaluate("digits", gate, version(2, 0.95), None).blessed
    low = evaluate("digits", gate, version(2, 0.85), None)
    assert not low.blessed
    assert low.decision == "NOT_BLESSED"
    assert "test.accuracy = 0.85 is below min 0.9" in low.summary()
    high = evaluate("digits", gate, version(2, 0.995), None)
    assert "test.accuracy = 0.995 is above max 0.99" in high.summary()


def test_absolute_improvement_over_the_holder_in_the_metric_direction() -> None:
    gate = stage({"metric": "accuracy", "min_improvement": 0.01})
    assert evaluate("digits", gate, version(3, 0.95), version(2, 0.94)).blessed  # rounding: 0.95 - 0.94 < 0.01
    refused = evaluate("digits", gate, version(3, 0.945), version(2, 0.94))
    assert not refused.blessed
    assert refused.baseline_version == 2
    assert "vs holder version 2 0.94: improvement +0.005" in refused.summary()


def test_lower_is_better_is_inferred_for_loss() -> None:
    gate = stage({"metric": "loss", "min_improvement": 0.05})
    assert evaluate("digits", gate, version(3, loss=0.10), version(2, loss=0.20)).blessed
    worse = evaluate("digits", gate, version(3, loss=0.30), version(2, loss=0.20))
    assert not worse.blessed
    assert "lower_is_better" in worse.summary()


def test_declared_direction_wins_over_inference() -> None:
    gate = stage({"metric": "accuracy", "direction": "lower_is_better", "min_improvement": 0.0})
    assert not evaluate("digits", gate, version(3, 0.99), version(2, 0.5)).blessed


def test_relative_improvement_is_a_fraction_of_the_holder() -> None:
    gate = stage({"metric": "accuracy", "min_improvement": 0.05, "improvement": "relative"})
    assert evaluate("digits", gate, version(3, 0.84), version(2, 0.80)).blessed  # +5 %
    refused = evaluate("digits", gate, version(3, 0.83), version(2, 0.80))
    assert not refused.blessed
    assert "(relative)" in refused.summary()


def test_relative_improvement_over_a_zero_holder() -> None:
    gate = stage({"metric": "loss", "min_improvement": 0.1, "improvement": "relative"})
    assert not evaluate("digits", gate, version(3, loss=0.1), version(2, loss=0.0)).blessed
    gate_up = stage({"metric": "accuracy", "min_improvement": 0.1, "improvement": "relative"})
    assert evaluate("digits", gate_up, version(3, 0.1), version(2, 0.0)).blessed


def test_first_model_bless_applies_absolute_bounds_only() -> None:
    gate = stage({"metric": "accuracy", "min": 0.9, "min_improvement": 0.5})
    blessed = evaluate("digits", gate, version(1, 0.91), None)
    assert blessed.blessed
    assert "first_model: bless" in blessed.summary()
    assert not evaluate("digits", gate, version(1, 0.89), None).blessed


def test_first_model_block_refuses_an_empty_stage() -> None:
    gate = stage({"metric": "accuracy", "min": 0.5}, first_model="block")
    refused = evaluate("digits", gate, version(1, 0.99), None)
    assert not refused.blessed
    assert "first_model: block" in refused.summary()
    assert evaluate("digits", gate, version(2, 0.99), version(1, 0.9)).blessed


def test_a_missing_metric_is_a_refusal_naming_what_exists() -> None:
    gate = stage({"metric": "f1", "min": 0.5})
    refused = evaluate("digits", gate, version(2, 0.99), None)
    assert not refused.blessed
    assert "test.f1 is missing from version 2: has test: accuracy" in refused.summary()


def test_a_holder_without_the_metric_cannot_be_compared() -> None:
    gate = stage({"metric": "accuracy", "min_improvement": 0.0})
    refused = evaluate("digits", gate, version(3, 0.9), version(2, loss=0.1))
    assert "missing from holder version 2" in refused.summary()


def test_improvement_needs_the_same_evaluation_data() -> None:
    gate = stage({"metric": "accuracy", "min_improvement": 0.0})
    same = evaluate("digits", gate, version(3, 0.95, fingerprint="a" * 64), version(2, 0.9, fingerprint="a" * 64))
    assert same.blessed
    different = evaluate("digits", gate, version(3, 0.95, fingerprint="a" * 64), version(2, 0.9, fingerprint="b" * 64))
    assert not different.blessed
    assert "compare on the same evaluation data" in different.summary()


def test_requires_another_stage() -> None:
    gate = stage({"metric": "accuracy", "min": 0.1}, requires="staging")
    assert not evaluate("digits", gate, version(2, 0.9), None).blessed
    assert evaluate("digits", gate, version(2, 0.9, stages=("staging",)), None).blessed


def test_ungated_stage_blesses_and_says_so() -> None:
    gate = Stage.model_validate({"name": "sandbox", "gated": False})
    decision = evaluate("digits", gate, version(1), None)
    assert decision.blessed
    assert "not gated" in decision.summary()


def test_decision_serialises_with_every_number() -> None:
    decision = evaluate(
        "digits", stage({"metric": "accuracy", "min": 0.9, "min_improvement": 0.0}), version(3, 0.95), version(2, 0.93)
    )
    data = decision.to_dict()
    assert data["decision"] == "BLESSED"
    improvement = next(check for check in data["checks"] if check["condition"] == "improvement")
    assert (improvement["value"], improvement["baseline_value"], improvement["bound"]) == (0.95, 0.93, 0.0)


@pytest.mark.parametrize("accuracy", [0.0, 0.5, 1.0])
def test_bounds_are_inclusive(accuracy: float) -> None:
    assert evaluate(
        "digits", stage({"metric": "accuracy", "min": accuracy, "max": accuracy}), version(1, accuracy), None
    ).blessed
