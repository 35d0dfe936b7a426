"""Statistics of a table: the reference profile drift monitoring compares against (typed and
versioned; it travels inside the model package), and the per-column summary the metadata records.

A profile holds, per numeric column, counts, missing and infinite counts, moments, quantiles and a
histogram with `bins` equal-width bins; per categorical column, category counts and shares; and
for every column the values of one seeded sample of reference rows (the same rows for every
column, so multivariate tests see real rows), so that two-sample tests run against a registered
model without its training data.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_declare.config.data import Feature
from mlops_declare.contracts.layouts import PACKAGE_REFERENCE_PROFILE_FILE
from mlops_declare.errors import DataError

PROFILE_FORMAT: Literal["mlops_declare.profile/2"] = "mlops_declare.profile/2"
PROFILE_FORMAT_VERSION: Literal[2] = 2
PROFILE_FILE = PACKAGE_REFERENCE_PROFILE_FILE
"""Name of the profile inside a model package."""
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 30
"""Default bins (`monitoring.drift.bins`)."""
SAMPLE_SIZE = 5000
"""Default reference rows kept (`monitoring.drift.sample_size`)."""
SAMPLE_SEED = 20261130
EXACT_QUANTILES_UP_TO = 100_000
"""Above this many values a column's interior quantiles come from the row sample (a full partition costs more than the rest of the profile)."""
DISCRETE_LIMIT = 5
"""A numeric column with at most this many distinct values also records its value counts (tested like a categorical)."""
PROFILE_THREADS = min(4, os.cpu_count() or 1)


class _ProfileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Histogram(_ProfileModel):
    """Equal-width bins over the reference range: `len(edges) == len(counts) + 1`."""

    edges: list[float]
    counts: list[int]


class NumericColumn(_ProfileModel):
    """Distribution of a numeric column (missing and infinite values excluded from the statistics)."""

    kind: Literal["numeric"] = "numeric"
    name: str | None = None
    count: int
    missing: int
    missing_share: float
    infinite: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    skewness: float | None = None
    kurtosis: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)
    histogram: Histogram | None = None
    values: dict[str, int] | None = None
    """Counts per distinct value when there are at most `DISCRETE_LIMIT` (keys are `repr(float)`)."""
    sample: list[float | None] = Field(default_factory=list)
    """Values of the profile's sample rows (None where missing)."""

    def sample_values(self) -> np.ndarray:
        """The finite sample values as float64."""
        values = np.array([np.nan if value is None else value for value in self.sample], dtype=np.float64)
        return values[np.isfinite(values)]


class CategoricalColumn(_ProfileModel):
    """Category counts and shares (the most frequent `max_categories`, the rest as `other_share`)."""

    kind: Literal["categorical"] = "categorical"
    name: str | None = None
    count: int
    missing: int
    missing_share: float
    unique: int
    frequencies: dict[str, float]
    counts: dict[str, int]
    other_share: float
    sample: list[str | None] = Field(default_factory=list)


class ImageColumn(_ProfileModel):
    """Pixel-value distribution plus the distribution of each image's mean intensity."""

    kind: Literal["image"] = "image"
    name: str | None = None
    shape: list[int]
    images: int
    missing_images: int
    pixels: NumericColumn
    image_mean: NumericColumn


ColumnProfile = Annotated[NumericColumn | CategoricalColumn | ImageColumn, Field(discriminator="kind")]


class ReferenceProfile(_ProfileModel):
    """The reference profile: what drift monitoring compares a current window with."""

    format: Literal["mlops_declare.profile/2"] = PROFILE_FORMAT
    format_version: Literal[2] = PROFILE_FORMAT_VERSION
    rows: int
    bins: int
    sample_size: int
    sample_rows: int
    """Rows in the joint sample (every column's `sample` has this length)."""
    columns: dict[str, ColumnProfile]
    target: ColumnProfile | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = self.model_dump(mode="json")
        return result


def reference_profile(
    train: pa.Table,
    features: Sequence[Feature],
    target: str | None,
    task_hint: str | None,
    max_categories: int,
    bins: int = HISTOGRAM_BINS,
    sample_size: int = SAMPLE_SIZE,
) -> dict[str, Any]:
    """Per feature (and the target): distribution summaries of the training split's raw values, as JSON."""
    kinds: dict[str, str] = {feature.name: feature.type for feature in features}
    shapes = {feature.name: list(feature.shape or []) for feature in features}
    target_kind = None
    if target is not None:
        target_kind = "categorical" if task_hint in ("binary", "multiclass") else "numeric"
    return profile_table(train, kinds, target, target_kind, max_categories, bins, sample_size, shapes).to_json()


def profile_table(
    table: pa.Table,
    kinds: Mapping[str, str],
    target: str | None = None,
    target_kind: str | None = None,
    max_categories: int = 1000,
    bins: int = HISTOGRAM_BINS,
    sample_size: int = SAMPLE_SIZE,
    shapes: dict[str, list[int]] | None = None,
) -> ReferenceProfile:
    """The profile of `table`'s columns named in `kinds` (`numeric`, `categorical` or `image`)."""
    rows = table.num_rows
    rng = np.random.default_rng(SAMPLE_SEED)
    indices = np.arange(rows) if rows <= sample_size else np.sort(rng.choice(rows, sample_size, replace=False))

    def profile_of(name: str, kind: str) -> NumericColumn | CategoricalColumn | ImageColumn:
        column = table.column(name)
        if kind == "categorical":
            return categorical_column(column, max_categories, indices)
        if kind == "image":
            return _image_column(column, (shapes or {}).get(name, []), bins, indices)
        return numeric_column(column, bins, indices)

    # numpy and Arrow release the GIL in these kernels, so columns are profiled in parallel.
    if rows * len(kinds) < 1_000_000:
        profiled = [profile_of(name, kind) for name, kind in kinds.items()]
    else:
        with ThreadPoolExecutor(max_workers=PROFILE_THREADS) as pool:
            profiled = list(pool.map(lambda item: profile_of(*item), kinds.items()))
    target_profile: NumericColumn | CategoricalColumn | None = None
    if target is not None:
        column = table.column(target)
        if target_kind == "categorical":
            target_profile = categorical_column(column, max_categories, indices).model_copy(update={"name": target})
        else:
            target_profile = numeric_column(column, bins, indices).model_copy(update={"name": target})
    return ReferenceProfile(
        rows=rows,
        bins=bins,
        sample_size=sample_size,
        sample_rows=len(indices),
        columns=dict(zip(kinds, profiled, strict=True)),
        target=target_profile,
    )


def load_reference_profile(package_dir: str | Path) -> ReferenceProfile:
    """The reference profile a model package carries (`reference_profile.json`)."""
    path = Path(package_dir) / PROFILE_FILE
    if not path.is_file():
        raise DataError(
            f"{Path(package_dir)}: the model package has no {PROFILE_FILE}; retrain it with this version to carry one"
        )
    return read_profile(path)


def read_profile(path: str | Path) -> ReferenceProfile:
    """A profile JSON file, validated; DataError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read the reference profile ({exc})") from None
    if isinstance(data, dict) and data.get("format") != PROFILE_FORMAT:
        raise DataError(f"{path}: profile format {data.get('format')!r} is not {PROFILE_FORMAT!r}; rerun the data step")
    try:
        return ReferenceProfile.model_validate(data)
    except ValidationError as exc:
        raise DataError(
            f"{path}: not a valid reference profile: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from None


def _float_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def numeric_profile(column: pa.ChunkedArray | pa.Array, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Quantiles, equal-width histogram, moments and missing share of a numeric column, as JSON."""
    result: dict[str, Any] = numeric_column(column, bins).model_dump(mode="json")
    return result


def numeric_column(
    column: pa.ChunkedArray | pa.Array, bins: int = HISTOGRAM_BINS, indices: np.ndarray | None = None
) -> NumericColumn:
    """The typed profile of a numeric column."""
    return numeric_summary(_float_values(column), bins, indices)


def numeric_summary(values: np.ndarray, bins: int = HISTOGRAM_BINS, indices: np.ndarray | None = None) -> NumericColumn:
    """The typed profile of float64 values (NaN is missing; infinite values are counted, then left out)."""
    total = int(values.size)
    finite = np.isfinite(values)
    present = values[finite] if not finite.all() else values
    nan_count = 0 if present is values else int(np.count_nonzero(np.isnan(values)))
    sample: list[float | None] = []
    if indices is not None and total:
        picked = values[indices[indices < total]]
        sample = [float(value) if math.isfinite(value) else None for value in picked.tolist()]
    missing = total - int(present.size)
    base: dict[str, Any] = {
        "count": total,
        "missing": missing,
        "missing_share": missing / total if total else 0.0,
        "infinite": missing - nan_count,
        "sample": sample,
    }
    if present.size == 0:
        return NumericColumn(**base)
    low, high = float(np.min(present)), float(np.max(present))
    # Moments are computed on values scaled to about 1, so columns near the float range do not overflow.
    scale = max(abs(low), abs(high), 1e-300)
    scale = scale if scale > 1e30 else 1.0
    scaled = present / scale if scale != 1.0 else present
    mean_scaled = float(np.mean(scaled))
    centred = scaled - mean_scaled
    # Repeated multiplication: `**3` and `**4` go through pow() and cost several times more.
    squared = centred * centred
    variance = float(np.mean(squared))
    # The higher powers reuse the two buffers: the same arithmetic without two more large allocations.
    third = float(np.mean(np.multiply(squared, centred, out=centred)))
    fourth = float(np.mean(np.multiply(squared, squared, out=squared)))
    del centred, squared, scaled
    std_scaled = math.sqrt(variance)
    counts, edges = _histogram(present, low, high, bins)
    return NumericColumn(
        **base,
        mean=_finite_or_none(mean_scaled * scale),
        std=_finite_or_none(std_scaled * scale),
        min=low,
        max=high,
        # Tiny spreads underflow when raised to a power; such a column has no usable shape anyway.
        skewness=_finite_or_none(third / std_scaled**3) if std_scaled**3 > 0 else 0.0,
        kurtosis=_finite_or_none(fourth / variance**2 - 3.0) if variance**2 > 0 else 0.0,
        quantiles=_quantiles(present, low, high, sample),
        histogram=Histogram(edges=[float(edge) for edge in edges], counts=[int(count) for count in counts]),
        values=_discrete_values(present, sample),
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _quantiles(present: np.ndarray, low: float, high: float, sample: list[float | None]) -> dict[str, float]:
    """Exact quantiles up to `EXACT_QUANTILES_UP_TO` values; above, interior ones from the row sample (min and max exact)."""
    finite_sample = np.array([value for value in sample if value is not None], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if present.size <= EXACT_QUANTILES_UP_TO or finite_sample.size < 100:
            values = np.quantile(present, QUANTILES)
        else:
            values = np.quantile(finite_sample, QUANTILES)
    result = {f"{q:g}": float(v) for q, v in zip(QUANTILES, values, strict=True) if math.isfinite(float(v))}
    result["0"], result["1"] = low, high
    return result


def _discrete_values(present: np.ndarray, sample: list[float | None]) -> dict[str, int] | None:
    # Cheap first look at the sample; only a column that looks discrete pays for a full count.
    probe = present[:10_000] if not sample else np.array([value for value in sample if value is not None])
    if np.unique(probe).size > DISCRETE_LIMIT:
        return None
    distinct, counts = np.unique(present, return_counts=True)
    if distinct.size > DISCRETE_LIMIT:
        return None
    return {repr(float(value)): int(count) for value, count in zip(distinct, counts, strict=True)}


LARGEST_FLOAT = float(np.finfo(np.float64).max)


def uniform_counts(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    """Counts of finite `values` in `bins` equal-width bins over [low, high], plus one open bin on each side.

    Returns `bins + 2` counts: below `low`, the bins (the last one closed, as np.histogram), above
    `high`. A few vectorised passes instead of np.histogram's masked, blocked loop.
    """
    # An edge beyond float64 (an older profile's one-bin edge past a huge value) counts as the largest float.
    low, high = max(low, -LARGEST_FLOAT), min(high, LARGEST_FLOAT)
    if not math.isfinite(high - low):
        # The range overflows float64 (say -1e308..1e308) and the scale factor would turn values into
        # NaN; halving is exact in binary floating point, so the same bins come out of halved values.
        return uniform_counts(values / 2, low / 2, high / 2, bins)
    # In place on one temporary: a large column costs one float and one integer allocation.
    scaled = np.subtract(values, low)
    factor = bins / (high - low)
    if math.isfinite(factor):
        np.multiply(scaled, factor, out=scaled)
    else:  # a subnormal range: the factor overflows, dividing by the bin width does not
        np.divide(scaled, (high - low) / bins, out=scaled)
    np.floor(scaled, out=scaled)
    # fmax/fmin rather than clip: a NaN (only from degenerate edges) lands in the open bin below, not in a crash.
    np.fmax(scaled, -1, out=scaled)
    np.fmin(scaled, bins, out=scaled)
    positions = scaled.astype(np.int64)
    positions += 1
    counts = np.bincount(positions, minlength=bins + 2)
    # `high` itself belongs to the last bin, not to the open bin above.
    at_high = int(np.count_nonzero(values == high))
    counts[bins] += at_high
    counts[bins + 1] -= at_high
    return counts


def _histogram(present: np.ndarray, low: float, high: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins over [low, high]; one bin when the range is too narrow to split at this magnitude."""
    with np.errstate(over="ignore", invalid="ignore"):
        edges = np.linspace(low, high, bins + 1) if high > low and math.isfinite(high - low) else np.array([])
    if edges.size and np.all(np.diff(edges) > 0):
        return uniform_counts(present, low, high, bins)[1:-1], edges
    width = max(abs(low) * 1e-9, 0.5)
    # Stored edges stay finite (JSON has no infinity): next to the largest floats, the edge is the largest float.
    return np.array([present.size]), np.array([max(low - width, -LARGEST_FLOAT), min(high + width, LARGEST_FLOAT)])


def categorical_profile(column: pa.ChunkedArray | pa.Array, max_categories: int) -> dict[str, Any]:
    """Share of each category (the most frequent `max_categories`), the rest as `other_share`, as JSON."""
    result: dict[str, Any] = categorical_column(column, max_categories).model_dump(mode="json")
    return result


def categorical_column(
    column: pa.ChunkedArray | pa.Array, max_categories: int = 1000, indices: np.ndarray | None = None
) -> CategoricalColumn:
    """The typed profile of a categorical column (values compared as strings)."""
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
    sample = array.take(pa.array(indices[indices < total])).to_pylist() if indices is not None and total else []
    return CategoricalColumn(
        count=total,
        missing=missing,
        missing_share=missing / total if total else 0.0,
        unique=len(pairs),
        frequencies={value: count / present for value, count in kept} if present else {},
        counts=dict(kept),
        other_share=sum(count for _, count in pairs[max_categories:]) / present if present else 0.0,
        sample=sample,
    )


def _image_column(column: pa.ChunkedArray, shape: list[int], bins: int, indices: np.ndarray) -> ImageColumn:
    size = math.prod(shape)
    array = column.combine_chunks()
    pixels = np.asarray(array.flatten().cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    per_image = pixels.reshape(-1, size).mean(axis=1) if size and pixels.size else np.array([])
    return ImageColumn(
        shape=shape,
        images=len(array),
        missing_images=array.null_count,
        pixels=numeric_summary(pixels, bins),
        image_mean=numeric_summary(per_image, bins, indices if array.null_count == 0 else None),
    )


def column_statistics(table: pa.Table) -> dict[str, Any]:
    """A short summary per column of the whole validated table, for the metadata."""
    statistics: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        entry: dict[str, Any] = {"type": str(column.type), "missing": column.null_count}
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            values = _float_values(column)
            finite = np.isfinite(values)
            present = values if finite.all() else values[finite]
            if present.size:
                entry.update(min=float(np.min(present)), max=float(np.max(present)), mean=float(np.mean(present)))
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # Distinct values, a missing value counting as one (as pc.unique counts it).
            entry["unique"] = pc.count_distinct(column, mode="all").as_py()
        statistics[name] = entry
    return statistics
