"""Random (seeded, stratified), time and column splits, and their fraction checks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlops_declare.config.data import RandomSplit, SplitFractions
from mlops_declare.data.splits import split_indices
from mlops_declare.errors import DataError
from tests.unit.data.helpers import config, csv_source, numbered_csv, prepare, write_csv


def _split_ids(
    tmp_path: Path, split: dict[str, Any], path: Path | None = None, name: str = "out"
) -> dict[str, list[int]]:
    source = path or numbered_csv(tmp_path / "raw.csv", rows=200)
    prepared = prepare(config(csv_source(source), split=split), tmp_path, name)
    return {split_name: pq.read_table(file).column("id").to_pylist() for split_name, file in prepared.splits.items()}


def test_random_split_fractions_and_disjoint_cover(tmp_path: Path) -> None:
    ids = _split_ids(tmp_path, {"kind": "random", "fractions": {"train": 0.6, "val": 0.25, "test": 0.15}, "seed": 5})
    assert {name: len(values) for name, values in ids.items()} == {"train": 120, "val": 50, "test": 30}
    assert sorted(ids["train"] + ids["val"] + ids["test"]) == list(range(200))
    assert ids["train"] == sorted(ids["train"])  # source order is kept inside a split


def test_random_split_is_seeded(tmp_path: Path) -> None:
    first = _split_ids(tmp_path, {"kind": "random", "seed": 1}, name="a")
    again = _split_ids(tmp_path, {"kind": "random", "seed": 1}, name="b")
    other = _split_ids(tmp_path, {"kind": "random", "seed": 2}, name="c")
    assert first == again
    assert first["train"] != other["train"]


def test_stratified_split_keeps_class_balance(tmp_path: Path) -> None:
    rows = ["id,x,target"] + [f"{i},{i},{'rare' if i % 10 == 0 else 'common'}" for i in range(200)]
    path = write_csv(tmp_path / "imbalanced.csv", rows)
    prepared = prepare(
        config(
            csv_source(path),
            split={"kind": "random", "stratify": True, "fractions": {"train": 0.5, "val": 0.25, "test": 0.25}},
        ),
        tmp_path,
    )
    for name, expected_rare in (("train", 10), ("val", 5), ("test", 5)):
        labels = Counter(pq.read_table(prepared.splits[name]).column("target").to_pylist())
        assert labels["rare"] == expected_rare, name


def test_stratify_without_target_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "no_target.csv", ["a,b"] + [f"{i},{i}" for i in range(20)])
    with pytest.raises(DataError, match=r"data\.split\.stratify: stratifying needs a target column"):
        prepare(config(csv_source(path), split={"kind": "random", "stratify": True}), tmp_path)


def test_too_few_rows_for_a_split_is_rejected(tmp_path: Path) -> None:
    path = numbered_csv(tmp_path / "tiny.csv", rows=3)
    with pytest.raises(DataError, match=r"data\.split\.fractions\.(val|test): 3 rows are too few"):
        prepare(config(csv_source(path)), tmp_path)


def test_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match=r"train \+ val \+ test must be 1\.0, got 1\.1"):
        config(
            {"kind": "builtin", "dataset": "wine"},
            split={"kind": "random", "fractions": {"train": 0.8, "val": 0.2, "test": 0.1}},
        )


def _events(tmp_path: Path, extra: str = "") -> Path:
    rows = ["id,at,x,target"] + [f"{i},2026-{1 + i // 28:02d}-{1 + i % 28:02d},{i},{i % 2}" for i in range(84)]
    path = write_csv(tmp_path / "events.csv", rows)
    if extra:
        path.write_text(path.read_text() + extra)
    return path


def test_time_split_uses_cut_offs(tmp_path: Path) -> None:
    split = {"kind": "time", "column": "at", "val_start": "2026-02-01", "test_start": "2026-03-01"}
    ids = _split_ids(tmp_path, split, _events(tmp_path))
    assert ids == {"train": list(range(28)), "val": list(range(28, 56)), "test": list(range(56, 84))}


def test_time_split_rejects_missing_timestamps(tmp_path: Path) -> None:
    split = {"kind": "time", "column": "at", "val_start": "2026-02-01", "test_start": "2026-03-01"}
    with pytest.raises(DataError, match=r"data\.split\.column: column 'at' has 1 missing timestamps"):
        _split_ids(tmp_path, split, _events(tmp_path, "84,,1,0\n"))


def test_time_split_unknown_column(tmp_path: Path) -> None:
    split = {"kind": "time", "column": "when", "val_start": "2026-02-01", "test_start": "2026-03-01"}
    with pytest.raises(DataError, match=r"data\.split\.column: column 'when' not found"):
        _split_ids(tmp_path, split, _events(tmp_path))


def test_column_split_and_its_values(tmp_path: Path) -> None:
    names = ("train", "train", "val", "test")
    path = write_csv(
        tmp_path / "fixed.csv", ["id,fold,x,target"] + [f"{i},{names[i % 4]},{i},{i % 2}" for i in range(40)]
    )
    ids = _split_ids(tmp_path, {"kind": "column", "column": "fold"}, path)
    assert ids["val"] == list(range(2, 40, 4)) and ids["test"] == list(range(3, 40, 4))
    prepared = prepare(config(csv_source(path), split={"kind": "column", "column": "fold"}), tmp_path, "again")
    assert "fold" not in prepared.feature_names
    bad = write_csv(tmp_path / "bad.csv", ["id,fold,x,target", "0,train,1,0", "1,holdout,2,1"])
    with pytest.raises(
        DataError, match=r"data\.split\.column: column 'fold' holds 'holdout'; allowed: 'train', 'val', 'test'"
    ):
        _split_ids(tmp_path, {"kind": "column", "column": "fold"}, bad, name="bad")


@settings(max_examples=80, deadline=None)
@given(
    rows=st.integers(20, 400),
    train=st.integers(5, 90),
    val_share=st.integers(0, 100),
    seed=st.integers(0, 2**16),
    stratify=st.booleans(),
)
def test_random_split_property(rows: int, train: int, val_share: int, seed: int, stratify: bool) -> None:
    """Any valid fractions: the splits are disjoint, cover every row, and match the fractions within rounding."""
    train_fraction = train / 100
    val_fraction = round((1 - train_fraction) * val_share / 100, 6)
    test_fraction = round(1 - train_fraction - val_fraction, 6)
    split = RandomSplit(
        kind="random",
        seed=seed,
        stratify=stratify,
        fractions=SplitFractions(train=train_fraction, val=val_fraction, test=test_fraction),
    )
    table = pa.table({"target": [index % 3 for index in range(rows)]})
    try:
        indices = split_indices(table, split, "target", "test source")
    except DataError as error:
        assert "too few" in str(error)  # a split with a share > 0 that rounds to no rows
        return
    together = np.concatenate(list(indices.values()))
    assert sorted(together.tolist()) == list(range(rows))
    for name, fraction in (("train", train_fraction), ("val", val_fraction), ("test", test_fraction)):
        assert abs(len(indices[name]) - rows * fraction) <= 2.0, name  # rounding of train and val
    if stratify:
        labels = np.array(table.column("target").to_pylist())
        for name in ("train", "val", "test"):
            for label in range(3):
                share = (labels == label).sum() / rows
                assert abs((labels[indices[name]] == label).sum() - len(indices[name]) * share) <= 2.0
