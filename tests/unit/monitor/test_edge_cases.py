"""Degenerate columns give defined results (never a crash, never a NaN score), for every method."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from mlops_declare.config.monitoring import CATEGORICAL_ONLY_METHODS, NUMERIC_ONLY_METHODS, P_VALUE_METHODS
from mlops_declare.monitor.errors import MonitoringError
from tests.unit.monitor.support import drift, monitoring

NUMERIC_METHODS = ["ks", "wasserstein", "jensenshannon", "psi", "hellinger", "kl_div", "anderson", "cramer_von_mises"]
CATEGORICAL_METHODS = ["chisquare", "z", "jensenshannon", "psi", "hellinger", "kl_div"]
NAN = float("nan")
INF = float("inf")

NUMERIC_CASES = {
    "constant": ([5.0] * 200, [5.0] * 200),
    "constant_moved": ([5.0] * 200, [7.0] * 200),
    "all_nan_current": (list(np.linspace(0, 1, 200)), [NAN] * 200),
    "all_nan_reference": ([NAN] * 200, list(np.linspace(0, 1, 200))),
    "infinite": (list(np.linspace(0, 1, 200)), [INF, -INF] * 50 + list(np.linspace(0, 1, 100))),
    "tiny": ([1.0, 2.0, NAN] + [NAN] * 197, [1.5, NAN] + [NAN] * 198),
    "outside_range": (list(np.linspace(0, 1, 200)), list(np.linspace(10, 11, 200))),
}


def _clean(result: dict) -> None:
    json.dumps(result, allow_nan=False)  # no NaN or infinity anywhere in what is stored and sent


@pytest.mark.parametrize("case", sorted(NUMERIC_CASES))
@pytest.mark.parametrize("method", NUMERIC_METHODS)
def test_numeric_edge_cases(case: str, method: str) -> None:
    reference, current = NUMERIC_CASES[case]
    result = drift(pa.table({"x": reference}), pa.table({"x": current}), monitoring(num_method=method))
    _clean(result)
    column = result["columns"][0]
    assert column["method"] == method
    assert column["status"] in ("tested", "no_values", "too_few_values")
    if column["status"] == "tested":
        assert isinstance(column["score"], float)
    if case == "constant":
        assert not column["drifted"]
    if case in ("constant_moved", "outside_range"):
        assert column["drifted"]
    if case == "all_nan_current":
        assert column["score"] is None and [s["kind"] for s in result["signals"]] == ["missing_share_change"]
        assert result["drift"]
    if case == "infinite":
        assert column["current_infinite"] == 100


CATEGORICAL_CASES = {
    "same": (["a", "b"] * 100, ["a", "b"] * 100),
    "single_category": (["a"] * 200, ["a"] * 200),
    "unseen": (["a", "b"] * 100, ["a", "b", "c", "d"] * 50),
    "all_missing_current": (["a", "b"] * 100, [None] * 200),
    "reweighted": (["a", "b"] * 100, ["a"] * 180 + ["b"] * 20),
}


@pytest.mark.parametrize("case", sorted(CATEGORICAL_CASES))
@pytest.mark.parametrize("method", CATEGORICAL_METHODS)
def test_categorical_edge_cases(case: str, method: str) -> None:
    reference, current = CATEGORICAL_CASES[case]
    table = pa.table({"c": pa.array(reference, pa.string())})
    result = drift(table, pa.table({"c": pa.array(current, pa.string())}), monitoring(cat_method=method))
    _clean(result)
    column = result["columns"][0]
    if case == "same" or case == "single_category":
        assert not column["drifted"] and not result["drift"]
    if case == "unseen":
        signal = next(s for s in result["signals"] if s["kind"] == "unseen_categories")
        assert signal["categories"] == ["c", "d"] and signal["value"] == pytest.approx(0.5)
        assert column["method"] == ("chisquare" if method == "z" else method)  # z needs a binary column
    if case == "reweighted":
        assert column["drifted"]


def test_empty_and_small_windows_are_insufficient_data_not_alarms() -> None:
    reference = pa.table({"x": np.linspace(0, 1, 500)})
    for rows in (0, 9):
        result = drift(reference, pa.table({"x": pa.array(np.linspace(5, 6, rows), pa.float64())}))
        assert result["status"] == "insufficient_data" and not result["drift"]
        assert "min_rows" in result["message"]


def test_score_kinds_and_default_thresholds() -> None:
    rng = np.random.default_rng(0)
    reference = pa.table({"x": rng.normal(size=500)})
    for method in NUMERIC_METHODS:
        column = drift(reference, pa.table({"x": rng.normal(size=500)}), monitoring(num_method=method))["columns"][0]
        expected = ("p_value", 0.05) if method in P_VALUE_METHODS else ("distance", 0.1)
        assert (column["score_kind"], column["threshold"]) == expected


def test_auto_follows_evidently_rule_and_records_the_choice() -> None:
    rng = np.random.default_rng(0)
    for rows, numeric, binary, categorical in (
        (1000, "ks", "z", "chisquare"),
        (1001, "wasserstein", "jensenshannon", "jensenshannon"),
    ):
        table = pa.table(
            {
                "n": rng.normal(size=rows),
                "b": rng.integers(0, 2, rows).astype(float),
                "c": pa.array(rng.choice(["x", "y", "z"], rows)),
            }
        )
        methods = {c["column"]: (c["method"], c["chosen_by"]) for c in drift(table, table)["columns"]}
        assert methods == {"n": (numeric, "auto"), "b": (binary, "auto"), "c": (categorical, "auto")}


def test_per_column_override_of_method_and_threshold() -> None:
    rng = np.random.default_rng(0)
    table = pa.table({"x": rng.normal(size=300), "y": rng.normal(size=300)})
    config = monitoring(per_column={"x": {"method": "psi", "threshold": 0.2}})
    columns = {c["column"]: c for c in drift(table, table, config)["columns"]}
    assert (columns["x"]["method"], columns["x"]["chosen_by"], columns["x"]["threshold"]) == ("psi", "per_column", 0.2)
    assert columns["y"]["method"] == "ks"


def test_method_of_the_wrong_type_is_a_readable_error() -> None:
    table = pa.table({"c": ["a", "b"] * 50, "x": np.linspace(0, 1, 100)})
    with pytest.raises(MonitoringError, match="method 'ks' is for numeric columns; 'c' is categorical"):
        drift(table, table, monitoring(per_column={"c": {"method": "ks"}}))
    with pytest.raises(MonitoringError, match="'chisquare' needs categories, but numeric column 'x'"):
        drift(table, table, monitoring(per_column={"x": {"method": "chisquare"}}))
    assert CATEGORICAL_ONLY_METHODS.isdisjoint(NUMERIC_ONLY_METHODS)


def test_missing_column_in_current_names_it_with_a_suggestion() -> None:
    table = pa.table({"income": np.linspace(0, 1, 100)})
    with pytest.raises(MonitoringError, match=r"the current data has no column 'income' \(did you mean 'incme'\?\)"):
        drift(table, pa.table({"incme": np.linspace(0, 1, 100)}))


def test_missing_share_change_is_a_signal_of_its_own() -> None:
    values = np.linspace(0, 1, 400)
    current = values.copy()
    current[::4] = np.nan  # same distribution of the values present, 25% missing
    result = drift(pa.table({"x": values}), pa.table({"x": current}))
    assert not result["columns"][0]["drifted"]
    assert result["signals"][0]["kind"] == "missing_share_change" and result["signals"][0]["value"] == pytest.approx(
        0.25
    )
    assert result["drift"] and not result["dataset"]["dataset_drift"]


from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, 1.0, NAN, INF])


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(_floats, min_size=1, max_size=60),
    current=st.lists(_floats, min_size=10, max_size=60),
    method=st.sampled_from(NUMERIC_METHODS),
)
# Found by Hypothesis: a subnormal reference range (the bin factor overflowed to infinity, 0 * inf
# gave NaN bin positions) and a reference at the most negative float (the one-bin edge became -inf).
@example(
    reference=[2.225073858507203e-309, 0.0, NAN],
    current=[0.7, 1.6e16, INF, 1.0, 0.0, 3.4e-199, NAN, 2.0e16, 0.0, 1.0],
    method="kl_div",
)
@example(
    reference=[-1.7976931348623157e308],
    current=[8.7e76, INF, 1.0, 0.0, -2.2e-309, 5.3e16, -1.7976931348623157e308, 1.0, 0.0, 1.0],
    method="kl_div",
)
def test_any_numeric_values_give_a_defined_result(reference: list[float], current: list[float], method: str) -> None:
    result = drift(
        pa.table({"x": pa.array(reference, pa.float64())}),
        pa.table({"x": pa.array(current, pa.float64())}),
        monitoring(num_method=method),
    )
    _clean(result)
    column = result["columns"][0]
    assert isinstance(column["drifted"], bool) and column["status"] in (
        "tested",
        "no_values",
        "too_few_values",
        "undefined",
    )
