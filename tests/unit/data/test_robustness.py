"""Arbitrary CSV content either becomes a dataset or a DataError: never a crash, never a half-written folder."""

from __future__ import annotations

import csv
import datetime as dt

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
    expectations = [
        {"kind": "range", "column": "a", "min": -3.0, "max": 3.0, "policy": "quarantine" if quarantine else "warn"}
    ]
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
    assert (
        sum(prepared.metadata()["rows"]["splits"].values())
        == prepared.metadata()["rows"]["checked"] - prepared.metadata()["rows"]["quarantined"]
    )


COLUMN_TYPES = {
    "int": (st.integers(-10, 10), "int64"),
    "float": (st.one_of(st.floats(-1e6, 1e6), st.sampled_from([float("nan"), float("inf"), -float("inf")])), "float64"),
    "text": (st.sampled_from(["p", "q", "r", "7"]), "string"),
    "bool": (st.booleans(), "bool"),
    "time": (st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)), "timestamp[us]"),
}


@st.composite
def typed_tables(draw: st.DrawFn) -> dict[str, list[object]]:
    """1-40 rows of 1-4 columns of random types (with nulls), plus a text label."""
    rows = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_TYPES)), min_size=1, max_size=4))
    columns: dict[str, list[object]] = {}
    for position, kind in enumerate(kinds):
        values = draw(st.lists(st.one_of(st.none(), COLUMN_TYPES[kind][0]), min_size=rows, max_size=rows))
        columns[f"{kind}_{position}"] = values
    columns["target"] = draw(st.lists(st.sampled_from(["yes", "no"]), min_size=rows, max_size=rows))
    return columns


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=typed_tables(), scaling=st.sampled_from(["standard", "minmax", "none"]))
def test_any_typed_parquet_prepares_or_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, columns: dict[str, list[object]], scaling: str
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_declare.data import Preprocessor

    folder = tmp_path_factory.mktemp("typed")
    types = {name: pa.type_for_alias(COLUMN_TYPES[name.split("_")[0]][1]) for name in columns if name != "target"}
    arrow = pa.table({name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()})
    pq.write_table(arrow, folder / "typed.parquet")
    data = config(
        {"kind": "parquet", "path": str(folder / "typed.parquet")},
        split={"kind": "random", "fractions": {"train": 0.8, "val": 0.2, "test": 0.0}},
        preprocessing={"scaling": scaling},
    )
    try:
        prepared = prepare(data, folder)
    except DataError:
        assert not (folder / "out").exists()
        return
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = pq.read_table(prepared.splits["train"])
    encoded = preprocessor.transform_table(train)
    assert encoded.dtype == np.float32 and encoded.shape == (train.num_rows, *preprocessor.input_shape)
    assert np.isfinite(encoded).all()
    assert np.array_equal(encoded, preprocessor.transform_records(train.to_pylist()))
