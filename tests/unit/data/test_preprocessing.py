"""Preprocessing is fitted on train only, saved as JSON, and gives the same tensor on the training
path (Arrow tables from Parquet) and the serving path (JSON records)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_declare.data import PreparedDataset, Preprocessor
from mlops_declare.errors import DataError
from tests.unit.data.helpers import config, csv_source, prepare, write_csv


def _mixed(tmp_path: Path, **fields: Any) -> PreparedDataset:
    """40 rows: numeric `x` (with gaps), text `colour`, boolean `flag`, label `target` (cat/dog)."""
    rows = ["id,x,colour,flag,target"]
    for i in range(40):
        x = "" if i % 9 == 4 else str(i)
        rows.append(
            f"{i},{x},{('red', 'green', 'blue', 'red')[i % 4]},{str(i % 3 == 0).lower()},{('cat', 'dog')[i % 2]}"
        )
    path = write_csv(tmp_path / "mixed.csv", rows)
    return prepare(config(csv_source(path), columns={"target": "target"}, **fields), tmp_path)


def _train(prepared: PreparedDataset) -> pa.Table:
    return pq.read_table(prepared.splits["train"])


def test_statistics_come_from_the_training_split_only(tmp_path: Path) -> None:
    prepared = _mixed(tmp_path, preprocessing={"scaling": "standard", "impute": "mean"})
    state = json.loads(prepared.preprocessing_path.read_text())
    x = np.asarray(_train(prepared).column("x").drop_null(), dtype=np.float64)
    fitted = {feature["name"]: feature for feature in state["features"]}["x"]
    assert fitted["offset"] == pytest.approx(x.mean()) and fitted["scale"] == pytest.approx(x.std())
    assert fitted["fill"] == pytest.approx(x.mean())
    everything = np.array([i for i in range(40) if i % 9 != 4], dtype=np.float64)
    assert fitted["offset"] != pytest.approx(everything.mean(), abs=1e-9)


def test_standardised_training_features_have_zero_mean_unit_variance(tmp_path: Path) -> None:
    prepared = _mixed(tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = _train(prepared)
    x = preprocessor.transform_table(train)[:, preprocessor.encoded_names.index("x")]
    present = ~np.isnan(np.asarray(train.column("x").to_numpy(zero_copy_only=False), dtype=float))
    assert x[present].mean() == pytest.approx(0.0, abs=1e-6) and x[present].std() == pytest.approx(1.0, abs=1e-5)


def test_minmax_scaling_maps_training_range_to_unit_interval(tmp_path: Path) -> None:
    prepared = _mixed(tmp_path, preprocessing={"scaling": "minmax", "impute": "zero"})
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    x = preprocessor.transform_table(_train(prepared))[:, 0]
    assert x.max() == pytest.approx(1.0)
    assert preprocessor.transform_records([{"x": None, "colour": "red", "flag": True}])[0, 0] < 0.0  # zero-imputed


def test_categories_get_a_vocabulary_and_an_unknown_bucket(tmp_path: Path) -> None:
    prepared = _mixed(tmp_path, preprocessing={"max_categories": 2})
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    assert preprocessor.feature_names == ["x", "colour", "flag"]
    assert preprocessor.encoded_names == ["x", "colour=red", "colour=blue", "colour=<unknown>", "flag"]
    assert preprocessor.input_shape == (5,)
    encoded = preprocessor.transform_records(
        [
            {"x": 1.0, "colour": "red", "flag": False},
            {"x": 1.0, "colour": "purple", "flag": False},
            {"x": 1.0, "colour": None, "flag": False},
        ]
    )
    assert encoded[:, 1:4].tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]


def test_target_classes_and_task_hint(tmp_path: Path) -> None:
    prepared = _mixed(tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = _train(prepared)
    assert (preprocessor.class_names, preprocessor.task_hint) == (["cat", "dog"], "binary")
    labels = preprocessor.target_array(train)
    assert labels.dtype == np.int64
    assert labels.tolist() == [["cat", "dog"].index(value) for value in train.column("target").to_pylist()]


def test_regression_target_is_float32(tmp_path: Path) -> None:
    prepared = prepare(config({"kind": "builtin", "dataset": "diabetes"}), tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    labels = preprocessor.target_array(_train(prepared))
    assert preprocessor.class_names is None and labels.dtype == np.float32


def test_train_and_serve_give_the_identical_tensor(tmp_path: Path) -> None:
    prepared = _mixed(tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = _train(prepared)
    records = train.to_pylist()  # what a client would send: plain JSON values
    assert np.array_equal(preprocessor.transform_table(train), preprocessor.transform_records(records))


def test_image_train_and_serve_identical(tmp_path: Path) -> None:
    prepared = prepare(config({"kind": "builtin", "dataset": "digits"}, preprocessing={"scaling": "minmax"}), tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    test = pq.read_table(prepared.splits["test"]).slice(0, 50)
    records = [{"image": np.asarray(row["image"]).reshape(1, 8, 8).tolist()} for row in test.to_pylist()]
    served = preprocessor.transform_records(records)
    assert served.shape == (50, 1, 8, 8) and served.dtype == np.float32
    assert np.array_equal(preprocessor.transform_table(test), served)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    record=st.fixed_dictionaries(
        {
            "x": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000)),
            "colour": st.one_of(st.none(), st.sampled_from(["red", "green", "blue", "teal", ""])),
            "flag": st.one_of(st.none(), st.booleans()),
        }
    )
)
def test_any_record_encodes_like_its_table_row(
    tmp_path_factory: pytest.TempPathFactory, record: dict[str, Any]
) -> None:
    state_path = _shared_state(tmp_path_factory)
    preprocessor = Preprocessor.load(state_path)
    table = pa.table(
        {
            "x": pa.array([record["x"]], pa.float64()),
            "colour": pa.array([record["colour"]], pa.string()),
            "flag": pa.array([record["flag"]], pa.bool_()),
        }
    )
    assert np.array_equal(preprocessor.transform_table(table), preprocessor.transform_records([record]))


_STATE: dict[str, Path] = {}


def _shared_state(factory: pytest.TempPathFactory) -> Path:
    if "path" not in _STATE:
        _STATE["path"] = _mixed(factory.mktemp("state")).preprocessing_path
    return _STATE["path"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"colour": "red", "flag": True}, r"record 0: missing feature 'x'"),
        ({"x": "12", "colour": "red", "flag": True}, r"record 0: feature 'x' must be a number, got '12'"),
        ({"x": 1.0, "colour": 3.5, "flag": True}, r"record 0: feature 'colour' must be text, got float"),
    ],
)
def test_bad_records_are_rejected_naming_the_field(tmp_path: Path, record: dict[str, Any], message: str) -> None:
    preprocessor = Preprocessor.load(_mixed(tmp_path).preprocessing_path)
    with pytest.raises(DataError, match=message):
        preprocessor.transform_records([record])


def test_unknown_label_is_rejected(tmp_path: Path) -> None:
    preprocessor = Preprocessor.load(_mixed(tmp_path).preprocessing_path)
    with pytest.raises(DataError, match=r"target column 'target' holds labels outside the known classes: \['maybe'\]"):
        preprocessor.target_array(pa.table({"target": ["dog", "maybe"]}))


def test_sample_weights_come_from_the_weight_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "weighted.csv", ["x,w,target"] + [f"{i},{1 + i % 3},{i % 2}" for i in range(30)])
    prepared = prepare(config(csv_source(path), columns={"target": "target", "weight": "w"}), tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    train = _train(prepared)
    assert preprocessor.feature_names == ["x"]
    weights = preprocessor.weight_array(train)
    assert weights is not None and weights.dtype == np.float32
    assert weights.tolist() == [float(value) for value in train.column("w").to_pylist()]
    assert Preprocessor.load(_mixed(tmp_path).preprocessing_path).weight_array(train) is None


def test_malformed_image_record_is_rejected(tmp_path: Path) -> None:
    prepared = prepare(config({"kind": "builtin", "dataset": "digits"}), tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    for value in ([[1, 2], [3]], "pixels", [0.0] * 63):
        with pytest.raises(DataError, match=r"record 0: feature 'image' must hold 64 numbers \(shape \[1, 8, 8\]\)"):
            preprocessor.transform_records([{"image": value}])


def test_table_with_text_in_a_numeric_feature_is_rejected(tmp_path: Path) -> None:
    preprocessor = Preprocessor.load(_mixed(tmp_path).preprocessing_path)
    table = pa.table({"x": ["1.5", "lots"], "colour": ["red", "red"], "flag": [True, False]})
    with pytest.raises(DataError, match=r"feature 'x' must hold numbers \(string\)"):
        preprocessor.transform_table(table)
    missing = pa.table({"x": [1.0]})
    with pytest.raises(DataError, match=r"input is missing feature column\(s\): colour, flag"):
        preprocessor.transform_table(missing)


def test_infinite_values_are_treated_as_missing(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "inf.csv",
        ["x,target"] + [f"{'inf' if i == 3 else '-inf' if i == 5 else i},{i % 2}" for i in range(30)],
    )
    prepared = prepare(config(csv_source(path)), tmp_path)
    preprocessor = Preprocessor.load(prepared.preprocessing_path)
    state = json.loads(prepared.preprocessing_path.read_text())
    assert np.isfinite(
        [state["features"][0]["offset"], state["features"][0]["scale"], state["features"][0]["fill"]]
    ).all()
    encoded = preprocessor.transform_records([{"x": float("inf")}, {"x": float("nan")}, {"x": None}])
    assert np.isfinite(encoded).all() and len(set(encoded[:, 0].tolist())) == 1


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).normal(3.0, 2.0, 200_000),
        np.random.default_rng(2).normal(0.0, 1.0, 200_001),
        np.random.default_rng(3).integers(0, 5, 100_000).astype(np.float64),
        np.repeat([1.0, 2.0], 50_000),
        np.sort(np.random.default_rng(4).standard_cauchy(99_999)),
        np.full(69_999, 1e308),
        np.arange(1000, dtype=np.float64),
    ],
    ids=["normal-even", "normal-odd", "few-values", "two-halves", "sorted-heavy-tails", "huge-equal", "small"],
)
def test_median_is_numpys_median_exactly(values: np.ndarray) -> None:
    from mlops_declare.data.preprocessing import median

    assert median(values) == float(np.median(values))
