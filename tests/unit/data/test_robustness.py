"""Arbitrary CSV content either becomes a dataset or a DataError: never a crash, never a half-written folder."""

from __future__ import annotations

import csv

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_declare.errors import DataError
from tests.unit.data.helpers import config, csv_source, prepare

CELLS = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["a", "b", "", "n/a", "1e9", "true", "2026-11-26", " x ", "é", '"q"', "1,5"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(CELLS, CELLS, st.sampled_from([0, 1, 2])), min_size=0, max_size=30),
    stratify=st.booleans(),
    quarantine=st.booleans(),
)
def test_any_csv_prepares_or_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[object, object, int]], stratify: bool, quarantine: bool
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "fuzz.csv"
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["a", "b", "target"])
        writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    expectations = [{"kind": "range", "column": "a", "min": -3.0, "max": 3.0, "policy": "quarantine" if quarantine else "warn"}]
    data = config(
        csv_source(path),
        columns={"target": "target"},
        expectations=expectations,
        split={"kind": "random", "stratify": stratify, "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}},
    )
    try:
        prepared = prepare(data, folder)
    except DataError:
        assert not (folder / "out").exists()
        assert sorted(path.name for path in folder.iterdir()) == ["fuzz.csv"]
        return
    assert sum(prepared.metadata()["rows"]["splits"].values()) == prepared.metadata()["rows"]["checked"] - prepared.metadata()["rows"]["quarantined"]
