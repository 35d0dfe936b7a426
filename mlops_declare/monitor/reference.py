"""Where the reference comes from: a registered model's package, a prepared dataset, or a file.

The training step puts the prepared dataset's profile into the model package
(`reference_profile.json`), rebuilt from the train split when its bins or sample size differ from
`monitoring.drift`, so that `Registry.load(ref)` hands the monitor everything it needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlops_declare.config.monitoring import DriftConfig
from mlops_declare.contracts.layouts import DATASET_FILES
from mlops_declare.data.profile import PROFILE_FILE, ReferenceProfile, profile_table, read_profile
from mlops_declare.errors import DataError
from mlops_declare.monitor.errors import MonitoringError

DATASET_PROFILE = DATASET_FILES["profile"]
"""The data step's profile inside a prepared dataset directory."""


def dataset_profile(dataset_dir: Path, drift: DriftConfig) -> ReferenceProfile:
    """The prepared dataset's reference profile with the configured bins and sample size."""
    try:
        profile = read_profile(dataset_dir / DATASET_PROFILE)
        if profile.bins == drift.bins and profile.sample_size == drift.sample_size:
            return profile
    except DataError:
        pass  # an older format or a damaged file: rebuild it from the train split below
    import pyarrow.parquet as pq

    metadata = json.loads((dataset_dir / "metadata.json").read_text(encoding="utf-8"))
    features = metadata["features"]
    kinds = {feature["name"]: feature["type"] for feature in features}
    shapes = {feature["name"]: list(feature.get("shape") or []) for feature in features}
    target = metadata.get("target")
    target_kind = "categorical" if metadata.get("task_hint") in ("binary", "multiclass") else "numeric"
    max_categories = int(metadata.get("config", {}).get("preprocessing", {}).get("max_categories", 1000))
    table = pq.read_table(dataset_dir / "train.parquet")
    return profile_table(
        table, kinds, target, target_kind if target else None, max_categories, drift.bins, drift.sample_size, shapes
    )


def package_reference_profile(dataset_dir: Path, package_dir: Path, drift: DriftConfig) -> Path:
    """Put the reference profile into the model package (digest listed in its spec); returns its path."""
    from mlops_declare.train.package import add_package_file

    profile = dataset_profile(Path(dataset_dir), drift)
    content = (json.dumps(profile.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")
    add_package_file(Path(package_dir), PROFILE_FILE, content, spec_key="reference_profile")
    return Path(package_dir) / PROFILE_FILE


def read_table(path: str | Path) -> pa.Table:
    """A Parquet or CSV file as an Arrow table; MonitoringError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise MonitoringError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            # Text columns stay dictionary-encoded: decoding a million strings per column costs
            # more than every statistic computed on them.
            schema = pq.read_schema(path)
            text = [
                field.name for field in schema if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
            ]
            return pq.read_table(path, read_dictionary=text or None)
        if path.suffix.lower() in (".csv", ".txt", ".tsv"):
            from pyarrow import csv

            options = csv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            return csv.read_csv(path, parse_options=options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MonitoringError(f"{path}: cannot read it as {path.suffix.lstrip('.')}: {exc}") from None
    raise MonitoringError(f"{path}: unknown file type {path.suffix!r}; use .parquet or .csv")


def column_kinds(table: pa.Table, columns: list[str] | None = None) -> dict[str, str]:
    """`numeric` or `categorical` per column of a file (numbers are numeric; strings, booleans and dictionaries categorical)."""
    kinds: dict[str, str] = {}
    for field in table.schema:
        if columns and field.name not in columns:
            continue
        kind_of = field.type
        if pa.types.is_integer(kind_of) or pa.types.is_floating(kind_of) or pa.types.is_decimal(kind_of):
            kinds[field.name] = "numeric"
        elif (
            pa.types.is_string(kind_of)
            or pa.types.is_large_string(kind_of)
            or pa.types.is_boolean(kind_of)
            or pa.types.is_dictionary(kind_of)
        ):
            kinds[field.name] = "categorical"
        elif pa.types.is_null(kind_of):
            kinds[field.name] = "numeric"
    return kinds


def file_profile(
    path: str | Path, drift: DriftConfig, columns: list[str] | None = None, exclude: tuple[str, ...] = ()
) -> ReferenceProfile:
    """The reference profile of a Parquet/CSV file (every numeric and categorical column)."""
    table = read_table(path)
    kinds = {name: kind for name, kind in column_kinds(table, columns).items() if name not in exclude}
    if not kinds:
        raise MonitoringError(f"{path}: no numeric or categorical columns to compare")
    return profile_table(table, kinds, bins=drift.bins, sample_size=drift.sample_size)


def describe(profile: ReferenceProfile) -> dict[str, Any]:
    """A short description of a profile for reports."""
    return {"rows": profile.rows, "columns": len(profile.columns), "bins": profile.bins}
