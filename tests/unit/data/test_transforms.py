"""Each declarative transform and SQL transform, and the errors they give on unknown columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlops_declare.errors import DataError
from tests.unit.data.helpers import all_rows, config, csv_source, numbered_csv, prepare, write_csv


def _prepared_rows(tmp_path: Path, transforms: list[dict[str, Any]], path: Path | None = None) -> pa.Table:
    source = path or numbered_csv(tmp_path / "raw.csv", rows=30)
    data = config(
        csv_source(source),
        transforms=transforms,
        split={"kind": "random", "fractions": {"train": 0.8, "val": 0.2, "test": 0.0}},
    )
    return all_rows(prepare(data, tmp_path))


def test_sql_transform_sees_the_table_as_input(tmp_path: Path) -> None:
    rows = _prepared_rows(
        tmp_path, [{"kind": "sql", "query": "SELECT id, x * 2 AS x2, target FROM input WHERE id >= 10"}]
    )
    assert rows.column_names == ["id", "x2", "target"]
    assert rows.column("id").to_pylist() == list(range(10, 30))
    assert rows.column("x2").to_pylist()[0] == 10.0


def test_sql_transform_unknown_column_names_transform_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"data\.transforms\[0\] \(sql\): column 'colur' not found \(did you mean 'colour'\?\); csv source",
    ):
        _prepared_rows(tmp_path, [{"kind": "sql", "query": "SELECT colur FROM input"}])
    assert not (tmp_path / "out").exists()


def test_sql_transform_that_leaves_no_rows_is_empty_result(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"data\.transforms: no rows \(csv source .* gave 30 rows, transforms left none\)"
    ):
        _prepared_rows(tmp_path, [{"kind": "sql", "query": "SELECT * FROM input WHERE id < 0"}])


def test_cast_changes_type(tmp_path: Path) -> None:
    rows = _prepared_rows(tmp_path, [{"kind": "cast", "columns": {"y": "float", "id": "string"}}])
    assert rows.schema.field("y").type == pa.float64()
    assert rows.schema.field("id").type == pa.string()


def test_cast_with_wrong_values_names_column_and_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "raw.csv", ["code,target", "1,0", "2,1", "abc,0", "n/a,1"])
    with pytest.raises(
        DataError,
        match=r"data\.transforms\[0\] \(cast\) 'code': column 'code': 2 value\(s\) cannot be read as BIGINT \(e\.g\. 'abc', 'n/a'\)",
    ):
        _prepared_rows(tmp_path, [{"kind": "cast", "columns": {"code": "int"}}], path)


def test_cast_unknown_column(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"data\.transforms\[1\] \(cast\): column 'z' not found; csv source '.*raw\.csv' has columns: x, y, colour, target",
    ):
        _prepared_rows(tmp_path, [{"kind": "drop", "columns": ["id"]}, {"kind": "cast", "columns": {"z": "int"}}])


def test_impute_strategies(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gaps.csv", ["id,a,b,c,target", "0,1,,x,0", "1,,4,,1", "2,3,6,x,0", "3,8,,y,1"])
    rows = _prepared_rows(
        tmp_path,
        [
            {"kind": "impute", "columns": ["a"], "strategy": "median"},
            {"kind": "impute", "columns": ["b"], "strategy": "constant", "value": -1.0},
            {"kind": "impute", "columns": ["c"], "strategy": "mode"},
        ],
        path,
    )
    assert rows.column("a").to_pylist() == [1, 3, 3, 8]
    assert rows.column("b").to_pylist() == [-1, 4, 6, -1]
    assert rows.column("c").to_pylist() == ["x", "x", "x", "y"]


def test_impute_mean_of_text_column_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"data\.transforms\[0\] \(impute\): column 'colour' is string; strategy 'mean' needs a number"
    ):
        _prepared_rows(tmp_path, [{"kind": "impute", "columns": ["colour"], "strategy": "mean"}])


def test_clip_bounds_values(tmp_path: Path) -> None:
    rows = _prepared_rows(tmp_path, [{"kind": "clip", "column": "x", "lower": 1.0, "upper": 10.0}])
    values = rows.column("x").to_pylist()
    assert min(values) == 1.0 and max(values) == 10.0 and values[5] == 2.5


def test_clip_unknown_column(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"data\.transforms\[0\] \(clip\): column 'xx' not found \(did you mean 'x'\?\)"
    ):
        _prepared_rows(tmp_path, [{"kind": "clip", "column": "xx", "upper": 1.0}])


def test_derive_adds_or_replaces_a_column(tmp_path: Path) -> None:
    rows = _prepared_rows(
        tmp_path,
        [
            {"kind": "derive", "name": "ratio", "expression": "x / NULLIF(y, 0)"},
            {"kind": "derive", "name": "x", "expression": "x + 1"},
        ],
    )
    assert rows.column("x").to_pylist()[:2] == [1.0, 1.5]
    assert rows.column("ratio").to_pylist()[:4] == [0.0, 0.5 / -2, 1.0 / -1, None]


def test_derive_unknown_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.transforms\[0\] \(derive\): column 'weight' not found"):
        _prepared_rows(tmp_path, [{"kind": "derive", "name": "bmi", "expression": "weight / 2"}])


def test_drop_removes_columns_and_rejects_unknown(tmp_path: Path) -> None:
    rows = _prepared_rows(tmp_path, [{"kind": "drop", "columns": ["y", "colour"]}])
    assert rows.column_names == ["id", "x", "target"]
    with pytest.raises(DataError, match=r"data\.transforms\[0\] \(drop\): column 'colors' not found"):
        _prepared_rows(tmp_path, [{"kind": "drop", "columns": ["colors"]}])


def test_deduplicate_keeps_the_first_row_of_each_group(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dupes.csv", ["id,k,v,target", "0,a,1,0", "1,b,2,1", "2,a,3,0", "3,a,1,1", "4,c,5,0", "5,b,2,1"]
    )
    by_key = _prepared_rows(tmp_path, [{"kind": "deduplicate", "columns": ["k"]}], path)
    assert by_key.column("id").to_pylist() == [0, 1, 4]
    whole_rows = _prepared_rows(tmp_path, [{"kind": "drop", "columns": ["id"]}, {"kind": "deduplicate"}], path)
    assert whole_rows.num_rows == 5  # only (b, 2, 1) repeats exactly; the two (a, 1, ·) differ in target


def test_transforms_run_in_order(tmp_path: Path) -> None:
    rows = _prepared_rows(
        tmp_path,
        [
            {"kind": "derive", "name": "big", "expression": "x > 5"},
            {"kind": "sql", "query": "SELECT * FROM input WHERE big"},
            {"kind": "drop", "columns": ["big"]},
        ],
    )
    assert min(rows.column("x").to_pylist()) == 5.5
    assert "big" not in rows.column_names


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/hostname')",
        "SELECT * FROM input UNION ALL SELECT * FROM read_parquet('elsewhere.parquet')",
    ],
)
def test_sql_transform_cannot_reach_files(tmp_path: Path, query: str) -> None:
    """A transform works on the source table only: the config's sources are the one way data comes in."""
    with pytest.raises(
        DataError, match=r"data\.transforms\[0\] \(sql\): .*(file system operations are disabled|Permission)"
    ):
        _prepared_rows(tmp_path, [{"kind": "sql", "query": query}])
