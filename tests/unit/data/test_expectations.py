"""Each expectation kind, each policy, the quarantine file and the validation report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from mlops_declare.data import QUARANTINE_REASON, DataValidationError, PreparedDataset
from mlops_declare.errors import DataError
from tests.unit.data.helpers import all_rows, config, csv_source, numbered_csv, prepare, write_csv

SPLIT = {"kind": "random", "fractions": {"train": 0.8, "val": 0.2, "test": 0.0}}


def _run(
    tmp_path: Path, expectations: list[dict[str, Any]], path: Path | None = None, name: str = "out", **kwargs: Any
) -> PreparedDataset:
    source = path or numbered_csv(tmp_path / "raw.csv", rows=30)
    return prepare(config(csv_source(source), expectations=expectations, split=SPLIT), tmp_path, name, **kwargs)


def _outcomes(prepared: PreparedDataset) -> list[tuple[str, str]]:
    return [(entry["kind"], entry["outcome"]) for entry in prepared.report()["expectations"]]


def _failure(
    tmp_path: Path, expectations: list[dict[str, Any]], path: Path | None = None, **kwargs: Any
) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        _run(tmp_path, expectations, path, "rejected", **kwargs)
    assert not list(tmp_path.glob("*rejected*")), "a failed validation must write nothing"
    return caught.value


PASSING = [
    {"kind": "column_present", "column": "x", "type": "float"},
    {"kind": "column_present", "column": "id", "type": "int"},
    {"kind": "max_null_fraction", "column": "x", "max": 0.0},
    {"kind": "range", "column": "x", "min": 0.0, "max": 14.5},
    {"kind": "allowed_values", "column": "colour", "values": ["red", "green", "blue"]},
    {"kind": "allowed_values", "column": "target", "values": [0, 1]},
    {"kind": "unique", "column": "id"},
    {"kind": "row_count", "min": 30, "max": 30},
]


def test_every_kind_passes_on_good_data(tmp_path: Path) -> None:
    prepared = _run(tmp_path, PASSING)
    report = prepared.report()
    assert report["outcome"] == "passed"
    assert [entry["outcome"] for entry in report["expectations"]] == ["passed"] * len(PASSING)
    assert report["expectations"][3]["observed"] == {"min": 0.0, "max": 14.5}
    assert "ok   data.expectations[6] unique 'id'" in (prepared.directory / "report.txt").read_text()


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (
            {"kind": "column_present", "column": "z"},
            r"data\.expectations\[0\] column_present column 'z': expected column present, observed column missing",
        ),
        (
            {"kind": "column_present", "column": "colour", "type": "float"},
            r"column_present column 'colour': expected column present with type float, observed string",
        ),
        (
            {"kind": "max_null_fraction", "column": "x", "max": 0.1},
            r"max_null_fraction column 'x': expected null fraction <= 0\.1, observed 0\.166667; 6 missing value\(s\)",
        ),
        (
            {"kind": "range", "column": "x", "max": 10.0},
            r"range column 'x': expected values in \[-inf, 10\], observed .*; 9 bad row\(s\) \(e\.g\. '10\.5', '11\.0', '11\.5'\)",
        ),
        (
            {"kind": "allowed_values", "column": "colour", "values": ["red", "green"]},
            r"allowed_values column 'colour': .*10 bad row\(s\) \(e\.g\. 'blue'\)",
        ),
        ({"kind": "unique", "column": "y"}, r"unique column 'y': expected no repeated values, observed duplicates 23"),
        ({"kind": "row_count", "min": 31}, r"row_count: expected rows in \[31, inf\], observed 30"),
    ],
)
def test_failing_expectation_names_column_and_expectation(
    tmp_path: Path, expectation: dict[str, Any], message: str
) -> None:
    extra = "".join(f"{30 + i},,0,red,0\n" for i in range(6)) if expectation["kind"] == "max_null_fraction" else ""
    path = numbered_csv(tmp_path / "raw.csv", rows=30, extra=extra)
    error = _failure(tmp_path, [expectation], path)
    assert "data validation failed: 1 expectation(s) with policy 'fail' did not hold" in str(error)
    assert error.report["outcome"] == "failed"
    assert re.search(message, str(error)), str(error)


def test_warn_policy_reports_and_continues(tmp_path: Path) -> None:
    prepared = _run(tmp_path, [{"kind": "range", "column": "x", "max": 10.0, "policy": "warn"}])
    entry = prepared.report()["expectations"][0]
    assert (entry["outcome"], entry["bad_rows"]) == ("warned", 9)
    assert prepared.report()["outcome"] == "warned"
    assert all_rows(prepared).num_rows == 30
    assert "WARN data.expectations[0] range 'x' [warn]" in (prepared.directory / "report.txt").read_text()


def test_quarantine_moves_bad_rows_aside_with_a_reason(tmp_path: Path) -> None:
    prepared = _run(
        tmp_path,
        [
            {"kind": "range", "column": "x", "max": 10.0, "policy": "quarantine"},
            {"kind": "allowed_values", "column": "colour", "values": ["red", "green"], "policy": "quarantine"},
            {"kind": "row_count", "min": 10},
        ],
    )
    quarantine = pq.read_table(prepared.directory / "quarantine.parquet")
    kept = all_rows(prepared)
    assert kept.num_rows + quarantine.num_rows == 30
    assert set(kept.column("colour").to_pylist()) <= {"red", "green"}
    assert max(kept.column("x").to_pylist()) <= 10.0
    reasons = dict(
        zip(quarantine.column("id").to_pylist(), quarantine.column(QUARANTINE_REASON).to_pylist(), strict=True)
    )
    assert reasons[2] == "data.expectations[1] allowed_values colour=blue (expected values in {red, green})"
    assert reasons[29] == (
        "data.expectations[0] range x=14.5 (expected values in [-inf, 10]); "
        "data.expectations[1] allowed_values colour=blue (expected values in {red, green})"
    )
    assert _outcomes(prepared) == [("range", "quarantined"), ("allowed_values", "quarantined"), ("row_count", "passed")]
    assert prepared.report()["rows"]["quarantined"] == quarantine.num_rows


def test_row_count_is_judged_after_quarantine(tmp_path: Path) -> None:
    error = _failure(
        tmp_path,
        [{"kind": "range", "column": "x", "max": 1.0, "policy": "quarantine"}, {"kind": "row_count", "min": 10}],
    )
    assert "observed 3" in str(error)


def test_quarantining_every_row_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.expectations: every one of the 30 rows was quarantined"):
        _run(tmp_path, [{"kind": "range", "column": "x", "min": 100.0, "policy": "quarantine"}])


def test_unique_quarantine_keeps_the_first_occurrence(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", ["id,key,target", "0,a,0", "1,b,1", "2,a,0", "3,c,1", "4,b,0", "5,d,1"])
    prepared = _run(tmp_path, [{"kind": "unique", "column": "key", "policy": "quarantine"}], path)
    assert all_rows(prepared).column("id").to_pylist() == [0, 1, 3, 5]
    assert pq.read_table(prepared.directory / "quarantine.parquet").column("id").to_pylist() == [2, 4]


def test_max_null_fraction_quarantines_missing_values_once_exceeded(tmp_path: Path) -> None:
    path = numbered_csv(tmp_path / "raw.csv", rows=30, extra="30,,1,red,0\n31,,1,red,1\n")
    within = _run(tmp_path, [{"kind": "max_null_fraction", "column": "x", "max": 0.1, "policy": "quarantine"}], path)
    assert all_rows(within).num_rows == 32 and _outcomes(within) == [("max_null_fraction", "passed")]
    exceeded = _run(tmp_path, [{"kind": "max_null_fraction", "column": "x", "max": 0.0, "policy": "quarantine"}], path)
    assert all_rows(exceeded).column("x").null_count == 0
    assert all_rows(exceeded).num_rows == 30


def _timestamps_csv(tmp_path: Path) -> Path:
    rows = ["id,at,x,target"] + [f"{i},2026-11-{10 + i:02d} 06:00:00,{i},{i % 2}" for i in range(12)]
    return write_csv(tmp_path / "events.csv", rows)


def test_freshness_against_the_logical_date(tmp_path: Path) -> None:
    path = _timestamps_csv(tmp_path)  # newest row: 2026-11-21 06:00
    fresh = _run(
        tmp_path, [{"kind": "freshness", "column": "at", "max_age_hours": 24.0}], path, logical_date="2026-11-22"
    )
    entry = fresh.report()["expectations"][0]
    assert (entry["outcome"], entry["observed"]) == (
        "passed",
        {"newest": "2026-11-21T06:00:00+00:00", "age_hours": 18.0},
    )
    error = _failure(
        tmp_path, [{"kind": "freshness", "column": "at", "max_age_hours": 24.0}], path, logical_date="2026-11-25"
    )
    assert (
        "freshness column 'at': expected newest value at most 24 h before the logical date, observed newest 2026-11-21T06:00:00+00:00, age_hours 90"
        in str(error)
    )


def test_done_when_a_corrupted_csv_column_is_rejected(tmp_path: Path) -> None:
    """A numeric column with text and an impossible value: rejected naming the column and the expectation."""
    path = numbered_csv(tmp_path / "raw.csv", rows=200, extra="200,corrupt,1,red,0\n201,1e9,1,blue,1\n")
    error = _failure(
        tmp_path,
        [
            {"kind": "column_present", "column": "x", "type": "float"},
            {"kind": "range", "column": "x", "min": 0.0, "max": 1000.0},
        ],
        path,
    )
    text = str(error)
    assert (
        "data.expectations[0] column_present column 'x': expected column present with type float, observed string"
        in text
    )
    assert "data.expectations[1] range column 'x'" in text and "2 bad row(s)" in text and "'corrupt'" in text
    assert not (tmp_path / "out").exists()


def test_done_when_a_corrupted_csv_column_is_quarantined(tmp_path: Path) -> None:
    """With policy quarantine the corrupt rows go aside and the column is numeric again for training."""
    path = numbered_csv(tmp_path / "raw.csv", rows=200, extra="200,corrupt,1,red,0\n201,1e9,1,blue,1\n")
    prepared = _run(
        tmp_path, [{"kind": "range", "column": "x", "min": 0.0, "max": 1000.0, "policy": "quarantine"}], path
    )
    quarantine = pq.read_table(prepared.directory / "quarantine.parquet")
    assert quarantine.column("x").to_pylist() == ["corrupt", "1e9"]
    assert quarantine.column(QUARANTINE_REASON).to_pylist()[0].startswith("data.expectations[0] range x=corrupt")
    rows = all_rows(prepared)
    assert str(rows.schema.field("x").type) == "double" and rows.num_rows == 200
    schema = {column["name"]: column for column in prepared.metadata()["schema"]}
    assert schema["x"]["feature_type"] == "numeric"


def test_corrupted_column_without_expectations_is_not_trained_on_as_text(tmp_path: Path) -> None:
    """No expectation declared: the mostly-numeric text column stops the run instead of becoming a category."""
    path = numbered_csv(tmp_path / "raw.csv", rows=200, extra="200,corrupt,1,red,0\n")
    with pytest.raises(
        DataError, match=r"column 'x' looks numeric but 1 of 201 values are not numbers \(e\.g\. 'corrupt'\)"
    ):
        _run(tmp_path, [], path)


def test_report_json_lists_every_expectation(tmp_path: Path) -> None:
    prepared = _run(tmp_path, PASSING)
    report = json.loads(prepared.report_path.read_text())
    assert [entry["config_path"] for entry in report["expectations"]] == [
        f"data.expectations[{i}]" for i in range(len(PASSING))
    ]
    assert set(report["expectations"][0]) >= {"kind", "column", "policy", "expected", "observed", "outcome"}
    assert report["rows"]["splits"] == {"train": 24, "val": 6, "test": 0}


def test_range_on_a_timestamp_column_names_expectation_column_and_source(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"data\.expectations\[0\] \(range\): column 'at' is timestamp; a range check needs numbers; csv source '.*events\.csv'",
    ):
        _run(tmp_path, [{"kind": "range", "column": "at", "min": 0.0}], _timestamps_csv(tmp_path))
