"""Statistics that hold up (issue 10, item 9): false alarms under correction, power, effect size at
large n, and multivariate drift that no single column shows."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from mlops_declare.config.monitoring import MonitoringConfig
from mlops_declare.data.profile import profile_table
from mlops_declare.monitor.drift import check_drift
from mlops_declare.monitor.multivariate import check_multivariate
from tests.unit.monitor.support import drift, monitoring

COLUMNS = 10
ALPHA = 0.05


def _table(rng: np.random.Generator, rows: int, shift: float = 0.0, shifted: int = 0) -> pa.Table:
    data = rng.normal(size=(rows, COLUMNS))
    data[:, :shifted] += shift
    return pa.table({f"x{index}": data[:, index] for index in range(COLUMNS)})


@pytest.mark.slow
@pytest.mark.parametrize("correction", ["bonferroni", "fdr_bh"])
def test_false_alarm_rate_with_correction_stays_within_alpha(correction: str) -> None:
    # Dataset alarm as soon as one column drifts (drift_share 1/10): the family-wise error rate.
    config = monitoring(correction=correction, drift_share=1 / COLUMNS, p_value=ALPHA)
    rng = np.random.default_rng(7)
    simulations = 500
    alarms = sum(
        drift(_table(rng, 1000), _table(rng, 1000), config)["dataset"]["dataset_drift"] for _ in range(simulations)
    )
    rate = alarms / simulations
    assert rate <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / simulations), rate


def test_without_correction_the_family_wise_rate_is_far_above_alpha() -> None:
    # The reason the correction exists: ten uncorrected tests alarm about 1 - 0.95^10 = 40% of the time.
    config = monitoring(correction="none", drift_share=1 / COLUMNS)
    rng = np.random.default_rng(3)
    alarms = sum(drift(_table(rng, 1000), _table(rng, 1000), config)["dataset"]["dataset_drift"] for _ in range(60))
    assert alarms / 60 > 0.2


def test_half_sigma_shift_at_1000_rows_is_found_in_95_percent() -> None:
    rng = np.random.default_rng(11)
    simulations = 200
    found = 0
    for _ in range(simulations):
        result = drift(_table(rng, 1000), _table(rng, 1000, shift=0.5, shifted=1))
        found += "x0" in result["dataset"]["drifted_columns"]
        assert result["columns"][0]["method"] == "ks" and result["columns"][0]["chosen_by"] == "auto"
    assert found / simulations >= 0.95


@pytest.mark.slow
def test_tiny_shift_at_a_million_rows_is_not_flagged_by_default() -> None:
    rng = np.random.default_rng(5)
    rows = 1_000_000
    reference = pa.table({"x": rng.normal(size=rows), "y": rng.normal(size=rows)})
    current = pa.table({"x": rng.normal(0.01, 1.0, size=rows), "y": rng.normal(size=rows)})
    result = drift(reference, current, monitoring())
    x = result["columns"][0]
    assert x["method"] == "wasserstein" and x["score_kind"] == "distance"
    assert x["score"] < 0.05 and not x["drifted"] and not result["drift"]
    # ... while a real shift at the same size is.
    moved = drift(reference, pa.table({"x": rng.normal(0.5, 1.0, size=rows), "y": rng.normal(size=rows)}), monitoring())
    assert moved["columns"][0]["drifted"]


def _clusters(rng: np.random.Generator, rows: int, flipped: bool) -> pa.Table:
    sign = rng.choice([-1.0, 1.0], rows)
    noise = rng.normal(0.0, 0.3, size=(rows, 2))
    return pa.table(
        {"a": sign + noise[:, 0], "b": (-sign if flipped else sign) + noise[:, 1], "c": rng.normal(size=rows)}
    )


MULTIVARIATE = {"domain_classifier": {"enabled": True}, "reconstruction": {"enabled": True}}


def test_moving_clusters_with_unchanged_marginals_are_found() -> None:
    rng = np.random.default_rng(2)
    reference = _clusters(rng, 5000, flipped=False)
    result = drift(reference, _clusters(rng, 1000, flipped=True), monitoring(multivariate=MULTIVARIATE))
    assert result["dataset"]["drifted_columns"] == []  # no single column moved
    tests = result["multivariate"]
    assert tests["domain_classifier"]["drifted"] and tests["domain_classifier"]["score"] > 0.9
    assert tests["reconstruction"]["drifted"]
    assert result["drift"]


def test_stationary_stream_stays_quiet() -> None:
    rng = np.random.default_rng(4)
    config = monitoring(multivariate=MULTIVARIATE)
    profile = profile_table(_clusters(rng, 5000, flipped=False), {"a": "numeric", "b": "numeric", "c": "numeric"})
    for _ in range(8):
        result = check_drift(profile, _clusters(rng, 1000, flipped=False), config)
        assert not any(test["drifted"] for test in result["multivariate"].values()), result["multivariate"]
        assert not result["drift"]


def test_multivariate_tests_are_switchable_and_recorded_like_columns() -> None:
    rng = np.random.default_rng(1)
    table = _clusters(rng, 500, flipped=False)
    profile = profile_table(table, {"a": "numeric", "b": "numeric", "c": "numeric"})
    config = MonitoringConfig.model_validate({"multivariate": {"domain_classifier": {"enabled": False}}})
    result = check_multivariate(profile, table, ["a", "b", "c"], config.multivariate)
    assert set(result) == {"reconstruction"}
    assert {"method", "score", "threshold", "drifted", "status"} <= set(result["reconstruction"])
