"""Every source kind reads real files and databases; bad input names source and config path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_declare.errors import DataError
from tests.unit.data.helpers import all_rows, config, csv_source, numbered_csv, prepare, write_csv


def test_csv_source_reads_types_and_keeps_row_order(tmp_path: Path) -> None:
    path = numbered_csv(tmp_path / "raw.csv", rows=30)
    prepared = prepare(config(csv_source(path), columns={"target": "target"}), tmp_path)
    rows = all_rows(prepared)
    assert rows.column("id").to_pylist() == list(range(30))
    assert rows.schema.field("x").type == pa.float64()
    assert rows.schema.field("colour").type == pa.string()
    assert prepared.feature_names == ["x", "y", "colour"]  # `id` is inferred as the id column


def test_csv_with_another_delimiter(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "semi.csv", ["a;b;target"] + [f"{i};{i * 2};{i % 2}" for i in range(20)])
    prepared = prepare(config(csv_source(path, delimiter=";")), tmp_path)
    assert prepared.feature_names == ["a", "b"]
    assert prepared.target == "target"


def test_csv_path_templated_by_logical_date(tmp_path: Path) -> None:
    (tmp_path / "daily").mkdir()
    numbered_csv(tmp_path / "daily" / "2026-11-25.csv", rows=20)
    numbered_csv(tmp_path / "daily" / "2026-11-26.csv", rows=30)
    data = config({"kind": "csv", "path": "daily/{ds}.csv"})
    assert prepare(data, tmp_path, logical_date="2026-11-25").metadata()["rows"]["source"] == 20
    assert prepare(data, tmp_path, logical_date="2026-11-26").metadata()["rows"]["source"] == 30
    with pytest.raises(DataError, match=r"data\.source\.path: 'daily/\{ds\}\.csv' uses \{ds\} but no logical date"):
        prepare(data, tmp_path)


def test_missing_file_names_path_and_config_key_and_writes_nothing(tmp_path: Path) -> None:
    data = config(csv_source(tmp_path / "nope.csv"))
    with pytest.raises(DataError, match=r"data\.source\.path: csv file '.*nope\.csv': no file matches"):
        prepare(data, tmp_path)
    assert not (tmp_path / "out").exists()
    assert [path.name for path in tmp_path.iterdir()] == []


def test_unreadable_csv_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text('a,b\n1,2,3,4\n5\n"unterminated,6\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.source: cannot read csv source '.*ragged\.csv'"):
        prepare(config(csv_source(path)), tmp_path)


def test_empty_csv_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", ["a,b,target"])
    with pytest.raises(DataError, match=r"data\.source: csv source '.*empty\.csv' returned no rows"):
        prepare(config(csv_source(path)), tmp_path)


def test_parquet_glob_reads_every_partition(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    for part in range(3):
        table = pa.table({"id": np.arange(part * 10, part * 10 + 10), "x": np.linspace(0, 1, 10), "target": [0, 1] * 5})
        pq.write_table(table, tmp_path / "parts" / f"part-{part}.parquet")
    prepared = prepare(config({"kind": "parquet", "path": "parts/*.parquet"}), tmp_path)
    assert sorted(all_rows(prepared).column("id").to_pylist()) == list(range(30))


def test_fsspec_url_source(tmp_path: Path) -> None:
    memory = fsspec.filesystem("memory")
    with memory.open("/mlops-test/raw.csv", "w") as stream:
        stream.write("x,target\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    try:
        prepared = prepare(config({"kind": "csv", "path": "memory://mlops-test/raw.csv"}), tmp_path)
        assert prepared.metadata()["rows"]["source"] == 20
    finally:
        memory.rm("/mlops-test", recursive=True)


def _sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE patients (id INTEGER, age REAL, ward TEXT, day TEXT, outcome INTEGER)")
        connection.executemany(
            "INSERT INTO patients VALUES (?, ?, ?, ?, ?)",
            [(i, 20.0 + i, ("a", "b")[i % 2], f"2026-11-{1 + i % 2:02d}", i % 2) for i in range(40)],
        )
    return path


def test_sql_source_against_sqlite_with_templated_query(tmp_path: Path) -> None:
    database = _sqlite_file(tmp_path / "clinic.db")
    data = config(
        {"kind": "sql", "url": f"sqlite:///{database}", "query": "SELECT * FROM patients WHERE day = '{ds}'"},
        columns={"target": "outcome"},
    )
    prepared = prepare(data, tmp_path, logical_date="2026-11-02")
    rows = all_rows(prepared)
    assert rows.num_rows == 20
    assert set(rows.column("day").to_pylist()) == {"2026-11-02"}
    assert prepared.feature_names == ["age", "ward", "day"]


def test_sql_source_bad_query_names_query_key(tmp_path: Path) -> None:
    database = _sqlite_file(tmp_path / "clinic.db")
    data = config({"kind": "sql", "url": f"sqlite:///{database}", "query": "SELECT * FROM missing_table"})
    with pytest.raises(DataError, match=r"data\.source\.query: sql source 'sqlite:///.*clinic\.db': no such table"):
        prepare(data, tmp_path)


@pytest.mark.parametrize(
    ("dataset", "features", "task", "classes"),
    [("breast_cancer", 30, "binary", 2), ("wine", 13, "multiclass", 3), ("diabetes", 10, "regression", None)],
)
def test_builtin_tabular_datasets(tmp_path: Path, dataset: str, features: int, task: str, classes: int | None) -> None:
    prepared = prepare(config({"kind": "builtin", "dataset": dataset}), tmp_path)
    metadata = prepared.metadata()
    assert len(prepared.feature_names) == features
    assert (prepared.target, metadata["task_hint"]) == ("target", task)
    assert (len(metadata["class_names"]) if metadata["class_names"] else None) == classes


def test_builtin_digits_is_an_image_feature(tmp_path: Path) -> None:
    from mlops_declare.data import Preprocessor

    prepared = prepare(config({"kind": "builtin", "dataset": "digits"}), tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = pq.read_table(prepared.splits["train"])
    assert prepared.feature_names == ["image"]
    assert preprocessor.input_shape == (1, 8, 8)
    assert preprocessor.transform_table(train).shape == (train.num_rows, 1, 8, 8)
    assert preprocessor.class_names == [str(digit) for digit in range(10)]


GENERATED = {
    "kind": "generated",
    "rows": 2000,
    "seed": 3,
    "columns": [
        {"name": "a", "mean": 10.0, "std": 2.0},
        {"name": "b", "null_fraction": 0.25},
        {"name": "c", "type": "categorical", "categories": ["x", "y", "z"]},
    ],
}


def test_generated_source_is_seeded(tmp_path: Path) -> None:
    first = all_rows(prepare(config(GENERATED), tmp_path, "one"))
    again = all_rows(prepare(config(GENERATED), tmp_path, "two"))
    other = all_rows(prepare(config({**GENERATED, "seed": 4}), tmp_path, "three"))
    assert first.equals(again)
    assert not first.equals(other)


def test_generated_columns_follow_their_declaration(tmp_path: Path) -> None:
    rows = all_rows(prepare(config(GENERATED), tmp_path))
    a = np.asarray(rows.column("a"))
    assert abs(a.mean() - 10.0) < 0.2 and abs(a.std() - 2.0) < 0.2
    assert 0.2 < rows.column("b").null_count / rows.num_rows < 0.3
    assert set(rows.column("c").to_pylist()) == {"x", "y", "z"}
    assert set(rows.column("target").to_pylist()) == {0, 1}


def test_generated_drift_shifts_only_named_columns(tmp_path: Path) -> None:
    base = all_rows(prepare(config(GENERATED), tmp_path, "base"))
    drifted_source = {**GENERATED, "drift": {"shift": 3.0, "columns": ["a"]}}
    drifted = all_rows(prepare(config(drifted_source), tmp_path, "drift"))
    shift = np.asarray(drifted.column("a")) - np.asarray(base.column("a"))
    assert np.allclose(shift, 6.0)  # 3 standard deviations of 2.0
    assert drifted.column("b").equals(base.column("b"))


def test_generated_regression_label_is_float(tmp_path: Path) -> None:
    prepared = prepare(config({**GENERATED, "label": "linear_regression"}), tmp_path)
    assert prepared.metadata()["task_hint"] == "regression"
    assert all_rows(prepared).schema.field("target").type == pa.float64()


def test_corrupt_parquet_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    with pytest.raises(DataError, match=r"data\.source: cannot read parquet source '.*broken\.parquet'"):
        prepare(config({"kind": "parquet", "path": "broken.parquet"}), tmp_path)
    assert not (tmp_path / "out").exists()


def test_unknown_fsspec_protocol_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.source\.path: cannot open 'nosuchfs://bucket/x\.csv'"):
        prepare(config({"kind": "csv", "path": "nosuchfs://bucket/x.csv"}), tmp_path)


def test_csv_null_values_are_missing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "na.csv", ["x,target"] + [f"{'NA' if i % 5 == 0 else i},{i % 2}" for i in range(20)])
    with pytest.raises(DataError, match=r"column 'x' looks numeric but 4 of 20 values are not numbers \(e\.g\. 'NA'\)"):
        prepare(config(csv_source(path)), tmp_path)
    prepared = prepare(config(csv_source(path, null_values=["", "NA"])), tmp_path)
    rows = all_rows(prepared)
    assert rows.schema.field("x").type == pa.int64() and rows.column("x").null_count == 4


def test_a_bad_value_after_the_type_sample_is_named_instead_of_failing_the_read(tmp_path: Path) -> None:
    """DuckDB sniffs types from a sample; a value past it that does not fit makes the column text
    (the whole file is sniffed again), so the user is told which value is wrong, not 'conversion error'."""
    lines = ["a,b,target"] + [f"{index},{index * 0.5},{index % 2}" for index in range(30_000)] + ["oops,1.0,1"]
    path = write_csv(tmp_path / "late.csv", lines)
    with pytest.raises(
        DataError, match=r"column 'a' looks numeric but 1 of 30001 values are not numbers \(e.g. 'oops'\)"
    ):
        prepare(config(csv_source(path), columns={"target": "target"}), tmp_path)
    categorical = config(
        csv_source(path), columns={"target": "target", "features": [{"name": "a", "type": "categorical"}]}
    )
    assert "oops" in all_rows(prepare(categorical, tmp_path, name="kept")).column("a").to_pylist()
