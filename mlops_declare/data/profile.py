"""Statistics of a table: the reference profile drift monitoring compares against, and the
per-column summary the metadata records."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_declare.config.data import Feature

PROFILE_FORMAT = "mlops_declare.profile/1"
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 30
PROFILE_THREADS = min(4, os.cpu_count() or 1)
SAMPLE_SIZE = 1000
"""Reference values kept per numeric column, so two-sample tests (KS) need not reread the training data."""


def reference_profile(
    train: pa.Table, features: Sequence[Feature], target: str | None, task_hint: str | None, max_categories: int
) -> dict[str, Any]:
    """Per feature (and the target): distribution summaries of the training split's raw values."""

    def profile_of(feature: Feature) -> dict[str, Any]:
        column = train.column(feature.name)
        if feature.type == "categorical":
            return categorical_profile(column, max_categories)
        if feature.type == "image":
            return _image_profile(column, feature)
        return numeric_profile(column, seed=_seed(feature.name))

    # numpy and Arrow release the GIL in these kernels, so columns are profiled in parallel.
    with ThreadPoolExecutor(max_workers=PROFILE_THREADS) as pool:
        columns = dict(zip([feature.name for feature in features], pool.map(profile_of, features), strict=True))
    target_profile = None
    if target is not None:
        column = train.column(target)
        if task_hint in ("binary", "multiclass"):
            target_profile = categorical_profile(column.cast(pa.string()), max_categories)
        else:
            target_profile = numeric_profile(column, seed=_seed(target))
        target_profile["name"] = target
    return {"format": PROFILE_FORMAT, "rows": train.num_rows, "columns": columns, "target": target_profile}


def _seed(name: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "little")


def _float_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def numeric_profile(column: pa.ChunkedArray | pa.Array, seed: int = 0) -> dict[str, Any]:
    """Quantiles, equal-width histogram, moments and missing share of a numeric column."""
    values = _float_values(column)
    return _numeric_summary(values, seed)


def _numeric_summary(values: np.ndarray, seed: int) -> dict[str, Any]:
    total = int(values.size)
    present = values[np.isfinite(values)]
    summary: dict[str, Any] = {
        "kind": "numeric",
        "count": total,
        "missing": total - int(present.size),
        "missing_share": (total - int(present.size)) / total if total else 0.0,
    }
    if present.size == 0:
        return summary
    mean = float(np.mean(present))
    centred = present - mean
    # Repeated multiplication: `**3` and `**4` go through pow() and cost several times more.
    squared = centred * centred
    variance = float(np.mean(squared))
    third = float(np.mean(squared * centred))
    fourth = float(np.mean(squared * squared))
    del centred, squared
    std = math.sqrt(variance)
    low, high = float(np.min(present)), float(np.max(present))
    counts, edges = _histogram(present, low, high)
    rng = np.random.default_rng(seed)
    sample = present if present.size <= SAMPLE_SIZE else rng.choice(present, SAMPLE_SIZE, replace=False)
    summary.update(
        mean=mean,
        std=std,
        min=low,
        max=high,
        # Tiny spreads underflow when raised to a power; such a column has no usable shape anyway.
        skewness=third / std**3 if std**3 > 0 else 0.0,
        kurtosis=fourth / variance**2 - 3.0 if variance**2 > 0 else 0.0,
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, np.quantile(present, QUANTILES), strict=True)},
        histogram={"edges": [float(edge) for edge in edges], "counts": [int(count) for count in counts]},
        sample=[float(value) for value in np.sort(sample)],
    )
    return summary


def _histogram(present: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins over [low, high]; one bin when the range is too narrow to split at this magnitude."""
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1) if high > low else np.array([])
    if edges.size and np.all(np.diff(edges) > 0):
        return np.histogram(present, bins=edges)
    width = max(abs(low) * 1e-9, 0.5)
    return np.array([present.size]), np.array([low - width, high + width])


def categorical_profile(column: pa.ChunkedArray | pa.Array, max_categories: int) -> dict[str, Any]:
    """Share of each category (the most frequent `max_categories`), the rest as `other_share`."""
    strings = column.cast(pa.string())
    array = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    total = len(array)
    missing = array.null_count
    counts = pc.value_counts(array)
    pairs = [
        (value, int(count))
        for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        if value is not None
    ]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    present = total - missing
    kept = pairs[:max_categories]
    return {
        "kind": "categorical",
        "count": total,
        "missing": missing,
        "missing_share": missing / total if total else 0.0,
        "unique": len(pairs),
        "frequencies": {value: count / present for value, count in kept} if present else {},
        "counts": {value: count for value, count in kept},
        "other_share": sum(count for _, count in pairs[max_categories:]) / present if present else 0.0,
    }


def _image_profile(column: pa.ChunkedArray, feature: Feature) -> dict[str, Any]:
    """Pixel-value distribution plus the distribution of each image's mean intensity."""
    size = math.prod(feature.shape or [])
    array = column.combine_chunks()
    pixels = np.asarray(array.flatten().cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    per_image = pixels.reshape(-1, size).mean(axis=1) if size and pixels.size else np.array([])
    summary = _numeric_summary(pixels, _seed(feature.name))
    summary.update(kind="image", shape=list(feature.shape or []), images=len(array), missing_images=array.null_count)
    summary["image_mean"] = _numeric_summary(per_image, _seed(feature.name) + 1)
    return summary


def column_statistics(table: pa.Table) -> dict[str, Any]:
    """A short summary per column of the whole validated table, for the metadata."""
    statistics: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        entry: dict[str, Any] = {"type": str(column.type), "missing": column.null_count}
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = _float_values(column)
            present = values[np.isfinite(values)]
            if present.size:
                entry.update(min=float(np.min(present)), max=float(np.max(present)), mean=float(np.mean(present)))
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            entry["unique"] = len(pc.unique(column.combine_chunks()))
        statistics[name] = entry
    return statistics
