"""Promotion gates: a pure evaluation of a stage's thresholds against a candidate and the current holder.

Semantics follow TFX's MetricThreshold and MLflow's MetricThreshold: absolute bounds on the
candidate's value, and a minimum improvement over the holder (absolute difference or fraction of
the holder's value) in the metric's direction. Improvement is only meaningful on the same
evaluation data, so when both versions record a fingerprint for the split and they differ, the
comparison fails instead of comparing numbers from different data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_declare.config.registry import Stage, Threshold

TOLERANCE = 1e-9
"""Slack for float rounding, so 0.3 - 0.2 counts as an improvement of 0.1."""
BLESSED = "BLESSED"
NOT_BLESSED = "NOT_BLESSED"

Metrics = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Candidate:
    """What the gate needs to know about one version."""

    version: int
    metrics: Metrics
    datasets: Mapping[str, Any] = field(default_factory=dict)
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Baseline:
    """The current holder's metrics re-computed on the candidate's evaluation data (TFX's baseline model run).

    Given to `promote`/`evaluate_gate` so that improvement is compared on the same data after a
    retrain on new data; `datasets` names that data, so the same-data rule holds.
    """

    version: int
    metrics: Metrics
    datasets: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One condition of a gate and its outcome, with the numbers that decided it."""

    condition: str
    passed: bool
    message: str
    metric: str | None = None
    split: str | None = None
    value: float | None = None
    baseline_value: float | None = None
    bound: float | None = None


@dataclass(frozen=True)
class GateDecision:
    """BLESSED or NOT_BLESSED for one version entering one stage, and every check behind it."""

    name: str
    version: int
    stage: str
    blessed: bool
    baseline_version: int | None
    checks: tuple[Check, ...]

    @property
    def decision(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED

    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def summary(self) -> str:
        """The decision, then one line per check, failures first (`FAIL test.accuracy = 0.88 is below min 0.9`)."""
        ordered = self.failures() + [check for check in self.checks if check.passed]
        head = f"{self.decision} {self.name}:{self.version} -> {self.stage}"
        return "\n".join([head, *(f"  {'ok  ' if check.passed else 'FAIL'} {check.message}" for check in ordered)])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decision"] = self.decision
        return data


def threshold_direction(threshold: Threshold) -> str:
    """The declared direction, or the one inferred from the metric's name."""
    return "higher_is_better" if threshold.higher_is_better else "lower_is_better"


def evaluate(name: str, stage: Stage, candidate: Candidate, holder: Candidate | None) -> GateDecision:
    """Decide whether `candidate` may enter `stage`, whose current holder is `holder` (None when empty)."""
    checks: list[Check] = []
    if stage.requires is not None:
        checks.append(_requires_check(stage, candidate))
    if not stage.gated:
        checks.append(Check("ungated", True, f"stage {stage.name!r} is not gated (gated: false)"))
    else:
        if holder is None and stage.gate.first_model == "block":
            checks.append(
                Check("first_model", False, f"{stage.name!r} has no holder yet and its gate says first_model: block")
            )
        for threshold in stage.gate.thresholds:
            checks += _threshold_checks(stage, threshold, candidate, holder)
    return GateDecision(
        name=name,
        version=candidate.version,
        stage=stage.name,
        blessed=all(check.passed for check in checks),
        baseline_version=holder.version if holder is not None else None,
        checks=tuple(checks),
    )


def _requires_check(stage: Stage, candidate: Candidate) -> Check:
    holds = stage.requires in candidate.stages
    verb = "holds" if holds else "does not hold"
    return Check(
        "requires", holds, f"version {candidate.version} {verb} {stage.requires!r} ({stage.name!r} requires it)"
    )


def _threshold_checks(
    stage: Stage, threshold: Threshold, candidate: Candidate, holder: Candidate | None
) -> list[Check]:
    label = f"{threshold.split}.{threshold.metric}"
    value = _metric(candidate, threshold)
    if value is None:
        return [
            Check(
                "metric",
                False,
                f"{label} is missing from version {candidate.version}: has {_available(candidate)}",
                threshold.metric,
                threshold.split,
            )
        ]
    checks: list[Check] = []
    if threshold.min is not None:
        passed = value >= threshold.min - TOLERANCE
        relation = ">=" if passed else "is below"
        checks.append(
            Check(
                "min",
                passed,
                f"{label} = {value:.6g} {relation} min {threshold.min:.6g}",
                threshold.metric,
                threshold.split,
                value,
                None,
                threshold.min,
            )
        )
    if threshold.max is not None:
        passed = value <= threshold.max + TOLERANCE
        relation = "<=" if passed else "is above"
        checks.append(
            Check(
                "max",
                passed,
                f"{label} = {value:.6g} {relation} max {threshold.max:.6g}",
                threshold.metric,
                threshold.split,
                value,
                None,
                threshold.max,
            )
        )
    if threshold.min_improvement is not None:
        checks.append(_improvement_check(stage, threshold, candidate, holder, value))
    return checks


def _improvement_check(
    stage: Stage, threshold: Threshold, candidate: Candidate, holder: Candidate | None, value: float
) -> Check:
    label = f"{threshold.split}.{threshold.metric}"
    required = threshold.min_improvement or 0.0
    if holder is None:
        return Check(
            "improvement",
            True,
            f"{label}: no holder of {stage.name!r} yet; first_model: "
            f"{stage.gate.first_model}, so min_improvement does not apply",
            threshold.metric,
            threshold.split,
            value,
        )
    baseline = _metric(holder, threshold)
    if baseline is None:
        return Check(
            "improvement",
            False,
            f"{label} is missing from holder version {holder.version}, so no comparison "
            f"is possible: holder has {_available(holder)}",
            threshold.metric,
            threshold.split,
            value,
        )
    mismatch = _different_data(threshold.split, candidate, holder)
    if mismatch:
        return Check("improvement", False, f"{label}: {mismatch}", threshold.metric, threshold.split, value, baseline)
    gain = value - baseline if threshold_direction(threshold) == "higher_is_better" else baseline - value
    measured = gain if threshold.improvement == "absolute" else _relative(gain, baseline)
    passed = measured >= required - TOLERANCE
    unit = "" if threshold.improvement == "absolute" else " (relative)"
    message = (
        f"{label} = {value:.6g} vs holder version {holder.version} {baseline:.6g}: improvement {measured:+.6g}{unit}, "
        f"{'meets' if passed else 'below the required'} {required:+.6g} ({threshold_direction(threshold)})"
    )
    return Check("improvement", passed, message, threshold.metric, threshold.split, value, baseline, required)


def _relative(gain: float, baseline: float) -> float:
    if baseline == 0:
        return 0.0 if gain == 0 else math.copysign(math.inf, gain)
    return gain / abs(baseline)


def _different_data(split: str, candidate: Candidate, holder: Candidate) -> str | None:
    ours, theirs = _fingerprint(candidate, split), _fingerprint(holder, split)
    if ours is None or theirs is None or ours == theirs:
        return None
    return (
        f"version {candidate.version} was evaluated on {split} data {ours[:12]} but holder version {holder.version} on "
        f"{theirs[:12]}; compare on the same evaluation data (re-evaluate, or promote with --force and a reason)"
    )


def _fingerprint(candidate: Candidate, split: str) -> str | None:
    entry = candidate.datasets.get(split)
    if isinstance(entry, Mapping):
        fingerprint = entry.get("fingerprint")
        return str(fingerprint) if fingerprint else None
    return str(entry) if isinstance(entry, str) and entry else None


def _metric(candidate: Candidate, threshold: Threshold) -> float | None:
    value = candidate.metrics.get(threshold.split, {}).get(threshold.metric)
    return float(value) if value is not None else None


def _available(candidate: Candidate) -> str:
    parts = [f"{split}: {', '.join(sorted(values)) or 'none'}" for split, values in sorted(candidate.metrics.items())]
    return "; ".join(parts) or "no metrics"
