"""prepare_dataset end to end: outputs, reopening, fingerprint, atomic writes, role inference,
reference profile, and the bad-input errors that must name source, column and config path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_declare.data import PreparedDataset, content_hash
from mlops_declare.errors import DataError
from tests.unit.data.helpers import config, csv_source, numbered_csv, prepare, write_csv

GENERATED = {
    "kind": "generated",
    "rows": 600,
    "seed": 11,
    "columns": [
        {"name": "a"},
        {"name": "b", "null_fraction": 0.1},
        {"name": "c", "type": "categorical", "categories": ["p", "q"]},
    ],
}


def test_outputs_are_written_and_reopened(tmp_path: Path) -> None:
    prepared = prepare(config(GENERATED), tmp_path)
    names = sorted(path.name for path in prepared.directory.iterdir())
    assert names == [
        "metadata.json",
        "preprocessing.json",
        "profile.json",
        "report.json",
        "report.txt",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]
    assert PreparedDataset.load(prepared.directory) == prepared
    assert prepared.feature_names == ["a", "b", "c"] and prepared.target == "target"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")], "no temporary folder left behind"


def test_fingerprint_is_stable_and_follows_content(tmp_path: Path) -> None:
    first = prepare(config(GENERATED), tmp_path, "a")
    again = prepare(config(GENERATED), tmp_path, "b")
    more_rows = prepare(config({**GENERATED, "rows": 601}), tmp_path, "c")
    other_scaling = prepare(config(GENERATED, preprocessing={"scaling": "minmax"}), tmp_path, "d")
    assert first.fingerprint == again.fingerprint
    assert len({first.fingerprint, more_rows.fingerprint, other_scaling.fingerprint}) == 3
    assert (first.directory / "train.parquet").read_bytes() == (again.directory / "train.parquet").read_bytes()


def test_content_hash_ignores_chunking_but_not_values() -> None:
    table = pa.table({"x": [1.0, None, 3.0], "s": ["a", None, "c"], "t": pa.array([1, 2, 3], pa.timestamp("us"))})
    rechunked = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    changed = table.set_column(0, "x", pa.array([1.0, None, 3.5]))
    assert content_hash({"train": table}) == content_hash({"train": rechunked})
    assert content_hash({"train": table}) != content_hash({"train": changed})


def test_rerun_replaces_the_output_atomically(tmp_path: Path) -> None:
    prepare(config(GENERATED), tmp_path)
    second = prepare(config({**GENERATED, "rows": 700}), tmp_path)
    assert second.metadata()["rows"]["source"] == 700
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_failure_keeps_the_previous_output_untouched(tmp_path: Path) -> None:
    good = prepare(config(GENERATED), tmp_path)
    before = {path.name: path.read_bytes() for path in good.directory.iterdir()}
    with pytest.raises(DataError):
        prepare(config(GENERATED, columns={"target": "label"}), tmp_path)
    assert {path.name: path.read_bytes() for path in good.directory.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_failure_while_the_splits_are_written_leaves_no_partial_output(tmp_path: Path) -> None:
    good = prepare(config(GENERATED), tmp_path)
    before = {path.name: path.read_bytes() for path in good.directory.iterdir()}
    # `x` has values only after the training cut-off: the preprocessing fit, which runs while the
    # split files are being encoded, fails.
    rows = ["at,x,target"] + [f"2026-01-{day:02d},,{day % 2}" for day in range(1, 29)]
    rows += [f"2026-02-{day:02d},{day},{day % 2}" for day in range(1, 11)]
    rows += [f"2026-03-{day:02d},{day},{day % 2}" for day in range(1, 11)]
    path = write_csv(tmp_path / "late.csv", rows)
    split = {"kind": "time", "column": "at", "val_start": "2026-02-01", "test_start": "2026-03-01"}
    late = config(csv_source(path), columns={"target": "target"}, split=split)
    with pytest.raises(DataError, match=r"column 'x' has no values in the training split"):
        prepare(late, tmp_path)
    assert {path.name: path.read_bytes() for path in good.directory.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["late.csv", "out"]


def test_verify_detects_a_changed_split(tmp_path: Path) -> None:
    prepared = prepare(config(GENERATED), tmp_path)
    prepared.verify()
    table = pq.read_table(prepared.splits["val"])
    pq.write_table(table.slice(1), prepared.splits["val"])
    with pytest.raises(DataError, match=r"was changed after it was written"):
        prepared.verify()


def test_load_of_a_folder_without_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"holds no prepared dataset"):
        PreparedDataset.load(tmp_path)


def test_missing_target_names_column_and_config_path(tmp_path: Path) -> None:
    path = numbered_csv(tmp_path / "raw.csv")
    with pytest.raises(
        DataError,
        match=r"data\.columns\.target: column 'label' not found; csv source '.*raw\.csv' has columns: id, x, y, colour, target",
    ):
        prepare(config(csv_source(path), columns={"target": "label"}), tmp_path)


def test_target_with_missing_values_is_rejected(tmp_path: Path) -> None:
    path = numbered_csv(tmp_path / "raw.csv", extra="40,1.0,1,red,\n")
    with pytest.raises(
        DataError, match=r"data\.columns\.target: target column 'target' has 1 missing value\(s\) of 41"
    ):
        prepare(config(csv_source(path)), tmp_path)


def test_all_null_feature_column_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "hollow.csv", ["x,empty,target"] + [f"{i},,{i % 2}" for i in range(20)])
    with pytest.raises(
        DataError, match=r"data\.columns\.features: column 'empty' is entirely missing \(all 20 values null\)"
    ):
        prepare(config(csv_source(path), columns={"features": [{"name": "x"}, {"name": "empty"}]}), tmp_path)


def test_declared_numeric_feature_with_text_is_a_type_error(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "typed.csv", ["x,size,target"] + [f"{i},{'big' if i == 3 else i},{i % 2}" for i in range(20)]
    )
    with pytest.raises(
        DataError,
        match=r"data\.columns\.features\[1\]: column 'size' is declared numeric but 1 of 20 values are not numbers \(e\.g\. 'big'\)",
    ):
        prepare(config(csv_source(path), columns={"features": [{"name": "x"}, {"name": "size"}]}), tmp_path)


def test_declared_feature_missing_from_data(tmp_path: Path) -> None:
    path = numbered_csv(tmp_path / "raw.csv")
    with pytest.raises(
        DataError, match=r"data\.columns\.features\[0\]: column 'colour ' not found \(did you mean 'colour'\?\)"
    ):
        prepare(config(csv_source(path), columns={"features": [{"name": "colour ", "type": "categorical"}]}), tmp_path)


def test_inferred_schema_is_recorded_with_roles(tmp_path: Path) -> None:
    rows = ["customer_id,signed_up,age,plan,churned"] + [
        f"{i},2026-01-{1 + i % 28:02d} 10:00:00,{20 + i},{('free', 'pro')[i % 2]},{i % 2}" for i in range(30)
    ]
    path = write_csv(tmp_path / "customers.csv", rows)
    prepared = prepare(config(csv_source(path), columns={"target": "churned"}), tmp_path)
    schema = {
        column["name"]: (column["role"], column["feature_type"], column["declared"])
        for column in prepared.metadata()["schema"]
    }
    assert schema == {
        "customer_id": ("id", None, False),
        "signed_up": ("timestamp", None, False),
        "age": ("feature", "numeric", False),
        "plan": ("feature", "categorical", False),
        "churned": ("target", None, True),
    }
    metadata = prepared.metadata()
    assert (metadata["id"], metadata["timestamp"], metadata["task_hint"]) == ("customer_id", "signed_up", "binary")


def test_reference_profile_describes_training_features(tmp_path: Path) -> None:
    prepared = prepare(config(GENERATED), tmp_path)
    profile = json.loads(prepared.profile_path.read_text())
    train_rows = pq.read_table(prepared.splits["train"]).num_rows
    numeric, categorical = profile["columns"]["b"], profile["columns"]["c"]
    assert profile["rows"] == train_rows
    assert numeric["kind"] == "numeric" and 0.05 < numeric["missing_share"] < 0.15
    assert sum(numeric["histogram"]["counts"]) == train_rows - numeric["missing"]
    assert len(numeric["histogram"]["edges"]) == 31
    assert numeric["quantiles"]["0"] == numeric["min"] and numeric["quantiles"]["1"] == numeric["max"]
    assert {"mean", "std", "skewness", "kurtosis"} <= set(numeric)
    assert categorical["kind"] == "categorical" and set(categorical["frequencies"]) == {"p", "q"}
    assert sum(categorical["frequencies"].values()) == pytest.approx(1.0)
    assert profile["target"]["name"] == "target" and profile["target"]["kind"] == "categorical"


def test_output_folder_is_readable_by_others(tmp_path: Path) -> None:
    prepared = prepare(config(GENERATED), tmp_path)
    assert os.stat(prepared.directory).st_mode & 0o055 == 0o055


def test_bad_logical_date(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"logical date '26/11/2026' is not YYYY-MM-DD"):
        prepare(config(GENERATED), tmp_path, logical_date="26/11/2026")


def test_profile_of_constant_and_nearly_constant_columns() -> None:
    from mlops_declare.data.profile import numeric_profile

    constant = numeric_profile(pa.array([5.0] * 10))
    assert constant["histogram"]["counts"] == [10] and constant["std"] == 0.0
    narrow = numeric_profile(pa.array([281474976710656.0, 281474976710656.0, 281474976710657.0, None]))
    assert sum(narrow["histogram"]["counts"]) == 3 and narrow["missing"] == 1
    wide = numeric_profile(pa.array([float(i) for i in range(100)]))
    assert len(wide["histogram"]["counts"]) == 30 and sum(wide["histogram"]["counts"]) == 100


def test_package_docstring_example_runs(tmp_path: Path) -> None:
    """The usage example in mlops_declare.data's docstring is executed as written."""
    import mlops_declare.data as package
    from mlops_declare.config import load_config

    code = "\n".join(line[4:] for line in (package.__doc__ or "").splitlines() if line.startswith("    "))
    namespace = {
        "config": load_config(Path(__file__).resolve().parents[3] / "conf", ["data=generated"]).config,
        "run_dir": tmp_path,
        "prepare_dataset": package.prepare_dataset,
        "Preprocessor": package.Preprocessor,
    }
    exec(compile(code, "mlops_declare.data docstring", "exec"), namespace)
    assert namespace["features"].shape == (3500, 7) and namespace["served"].shape == (1, 7)
    assert namespace["labels"].dtype.name == "int64"


def test_fingerprint_of_an_image_column_survives_a_parquet_round_trip(tmp_path: Path) -> None:
    """Parquet renames list items ('item' -> 'element'); the content hash must not see that."""
    table = pa.table({"image": pa.array([[0.0, 1.5], [2.0, 3.0]], type=pa.list_(pa.float32())), "target": [0, 1]})
    path = tmp_path / "images.parquet"
    pq.write_table(table, path)
    back = pq.read_table(path)
    assert str(back.schema.field("image").type) != str(table.schema.field("image").type)
    assert content_hash({"train": back}) == content_hash({"train": table})
