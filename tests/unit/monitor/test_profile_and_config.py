"""The reference profile's typed, versioned format, and the monitoring config's declared values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from mlops_declare.config.monitoring import MonitoringConfig
from mlops_declare.data.profile import (
    PROFILE_FILE,
    CategoricalColumn,
    NumericColumn,
    ReferenceProfile,
    load_reference_profile,
    profile_table,
)
from mlops_declare.errors import DataError


def test_profile_holds_what_drift_needs_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 12_000
    values = rng.normal(size=rows)
    values[:100] = np.nan
    table = pa.table({"x": values, "c": pa.array(rng.choice(["a", "b", None], rows)), "y": rng.integers(0, 2, rows)})
    profile = profile_table(
        table, {"x": "numeric", "c": "categorical"}, target="y", target_kind="categorical", bins=12, sample_size=5000
    )
    x, c = profile.columns["x"], profile.columns["c"]
    assert isinstance(x, NumericColumn) and isinstance(c, CategoricalColumn)
    assert (profile.format_version, profile.bins, profile.sample_rows) == (2, 12, 5000)
    assert x.histogram is not None and len(x.histogram.counts) == 12 and sum(x.histogram.counts) == rows - 100
    assert x.missing == 100 and len(x.sample) == 5000 and x.values is None
    assert set(c.frequencies) == {"a", "b"} and c.missing > 0 and len(c.sample) == 5000
    assert profile.target is not None and profile.target.name == "y"
    # The same seeded rows for every column: the sample is a sample of rows, not of values.
    positions = [index for index, value in enumerate(x.sample) if value is None]
    assert all(value is None or value == value for value in x.sample) and len(positions) < 100
    (tmp_path / PROFILE_FILE).write_text(json.dumps(profile.to_json()))
    assert load_reference_profile(tmp_path) == profile
    # Seeded: the same table gives the same profile.
    assert (
        profile_table(table, {"x": "numeric", "c": "categorical"}, target="y", target_kind="categorical", bins=12)
        == profile
    )


def test_low_cardinality_numeric_columns_keep_their_value_counts() -> None:
    profile = profile_table(pa.table({"b": [0.0, 1.0, 1.0, 2.0] * 50}), {"b": "numeric"})
    column = profile.columns["b"]
    assert isinstance(column, NumericColumn) and column.values == {"0.0": 50, "1.0": 100, "2.0": 50}


def test_loading_a_package_without_a_profile_or_an_old_format_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has no reference_profile.json; retrain it"):
        load_reference_profile(tmp_path)
    (tmp_path / PROFILE_FILE).write_text(json.dumps({"format": "mlops_declare.profile/1", "columns": {}}))
    with pytest.raises(DataError, match="profile format 'mlops_declare.profile/1' is not 'mlops_declare.profile/2'"):
        load_reference_profile(tmp_path)
    assert ReferenceProfile.model_json_schema()["properties"]["format_version"]["const"] == 2


def test_monitoring_config_declares_corrections_and_no_longer_has_retrain_on_drift() -> None:
    config = MonitoringConfig.model_validate({"drift": {"correction": "fdr_bh"}})
    assert config.drift.correction == "fdr_bh"
    with pytest.raises(ValidationError, match="'none', 'bonferroni' or 'fdr_bh'"):
        MonitoringConfig.model_validate({"drift": {"correction": "fdr"}})
    with pytest.raises(ValidationError, match="retrain_on_drift"):
        MonitoringConfig.model_validate({"retrain_on_drift": True})
    labels = MonitoringConfig.model_validate(
        {
            "performance": {
                "metric": "accuracy",
                "min": 0.9,
                "labels": {"kind": "sql", "url": "sqlite://", "table": "labels"},
            }
        }
    )
    assert labels.performance is not None and labels.performance.labels is not None
    assert labels.performance.labels.kind == "sql"
