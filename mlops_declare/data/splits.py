"""Divide the validated table into train, val and test: seeded random (optionally stratified),
time cut-offs, or a column that names each row's split."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_declare.config.data import SPLIT_NAMES, ColumnSplit, RandomSplit, Split, SplitFractions, TimeSplit
from mlops_declare.contracts.layouts import EVALUATION_SPLITS
from mlops_declare.errors import DataError


def split_indices(table: pa.Table, split: Split, target: str | None, source: str) -> dict[str, np.ndarray]:
    """Row positions per split, each in table order; every split with a non-zero share gets rows."""
    if isinstance(split, RandomSplit):
        indices = _random(table, split, target, source)
    elif isinstance(split, TimeSplit):
        indices = _by_time(table, split, source)
    else:
        indices = _by_column(table, split, source)
    if len(indices["train"]) == 0:
        raise DataError(f"data.split: the training split is empty ({table.num_rows} rows in total); {source}")
    return indices


def _allocation(rows: int, fractions: SplitFractions) -> tuple[int, int]:
    """(train, val) row counts; test takes the rest, so the counts always add up."""
    train = round(rows * fractions.train)
    val = round(rows * fractions.val)
    if fractions.test == 0.0:
        val = rows - train
    return train, min(val, rows - train)


def _random(table: pa.Table, split: RandomSplit, target: str | None, source: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(split.seed)
    if not split.stratify:
        groups = [np.arange(table.num_rows)]
    else:
        if target is None:
            raise DataError("data.split.stratify: stratifying needs a target column (data.columns.target)")
        groups = _class_groups(table.column(target))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for group, (train, val) in zip(
        groups, _stratified_allocation([len(g) for g in groups], split.fractions), strict=True
    ):
        shuffled = rng.permutation(group)
        parts["train"].append(shuffled[:train])
        parts["val"].append(shuffled[train : train + val])
        parts["test"].append(shuffled[train + val :])
    indices = {
        name: np.sort(np.concatenate(chunks)) if chunks else np.array([], np.int64) for name, chunks in parts.items()
    }
    for name in EVALUATION_SPLITS:
        share = getattr(split.fractions, name)
        if share > 0 and len(indices[name]) == 0:
            raise DataError(
                f"data.split.fractions.{name}: {table.num_rows} rows are too few to give the {name} split "
                f"{share:g} of them; {source}"
            )
    return indices


def _stratified_allocation(sizes: list[int], fractions: SplitFractions) -> list[tuple[int, int]]:
    """(train, val) rows per group: the overall counts of an unstratified split, shared out in
    proportion to group size (largest remainder), so small classes cannot round a split to nothing."""
    train_total, val_total = _allocation(sum(sizes), fractions)
    train = _apportion(sizes, train_total)
    left = [size - taken for size, taken in zip(sizes, train, strict=True)]
    val = _apportion(left, val_total)
    return list(zip(train, val, strict=True))


def _apportion(sizes: list[int], count: int) -> list[int]:
    """`count` shared out over groups in proportion to `sizes` (Hamilton's largest-remainder method)."""
    total = sum(sizes)
    if total == 0 or count == 0:
        return [0] * len(sizes)
    quotas = [size * count / total for size in sizes]
    shares = [int(quota) for quota in quotas]
    # Ties go to the earlier group, so the allocation is deterministic.
    order = sorted(range(len(sizes)), key=lambda index: (-(quotas[index] - shares[index]), index))
    for index in order[: count - sum(shares)]:
        shares[index] += 1
    return shares


def _class_groups(column: pa.ChunkedArray) -> list[np.ndarray]:
    codes = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
    indices = codes.indices.to_numpy(zero_copy_only=False)
    labels = codes.dictionary.to_pylist()
    order = sorted(range(len(labels)), key=lambda position: str(labels[position]))
    return [np.flatnonzero(indices == position) for position in order]


def _by_time(table: pa.Table, split: TimeSplit, source: str) -> dict[str, np.ndarray]:
    column = table.column(split.column)
    try:
        stamps = column if pa.types.is_timestamp(column.type) else pc.cast(column, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"data.split.column: column {split.column!r} is not a timestamp ({column.type}); {source}"
        ) from exc
    if stamps.null_count:
        raise DataError(
            f"data.split.column: column {split.column!r} has {stamps.null_count} missing timestamps; "
            f"a time split cannot place those rows; {source}"
        )
    unit = stamps.type.unit
    values = pc.cast(stamps, pa.timestamp(unit, tz=stamps.type.tz)).cast(pa.int64()).to_numpy(zero_copy_only=False)
    val_start = _boundary(split.val_start, "data.split.val_start", unit)
    test_start = _boundary(split.test_start, "data.split.test_start", unit)
    return {
        "train": np.flatnonzero(values < val_start),
        "val": np.flatnonzero((values >= val_start) & (values < test_start)),
        "test": np.flatnonzero(values >= test_start),
    }


def _boundary(text: str, where: str, unit: str) -> int:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise DataError(f"{where}: {text!r} is not an ISO date or timestamp") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    epoch = moment.replace(tzinfo=dt.UTC).timestamp()
    return round(epoch * scale)


def _by_column(table: pa.Table, split: ColumnSplit, source: str) -> dict[str, np.ndarray]:
    values = table.column(split.column).cast(pa.string()).to_numpy(zero_copy_only=False)
    unexpected = sorted({str(value) for value in values if value not in SPLIT_NAMES})
    if unexpected:
        raise DataError(
            f"data.split.column: column {split.column!r} holds {', '.join(repr(v) for v in unexpected[:5])}; "
            f"allowed: {', '.join(repr(name) for name in SPLIT_NAMES)}; {source}"
        )
    return {name: np.flatnonzero(values == name) for name in SPLIT_NAMES}
