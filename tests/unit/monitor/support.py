"""Helpers for the drift statistics tests: a profile of a table and one drift check, configured."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlops_declare.config.monitoring import MonitoringConfig
from mlops_declare.data.profile import profile_table
from mlops_declare.monitor.drift import check_drift


def monitoring(**drift: Any) -> MonitoringConfig:
    """Defaults, with `drift` keys overridden and the multivariate tests off unless asked for."""
    multivariate = drift.pop(
        "multivariate", {"domain_classifier": {"enabled": False}, "reconstruction": {"enabled": False}}
    )
    return MonitoringConfig.model_validate(
        {"drift": drift, "multivariate": multivariate, "window": {"size_rows": 1000, "min_rows": 10}}
    )


def kinds_of(table: pa.Table) -> dict[str, str]:
    return {
        field.name: "numeric" if pa.types.is_floating(field.type) or pa.types.is_integer(field.type) else "categorical"
        for field in table.schema
    }


def drift(reference: pa.Table, current: pa.Table, config: MonitoringConfig | None = None) -> dict[str, Any]:
    config = config or monitoring()
    profile = profile_table(
        reference, kinds_of(reference), bins=config.drift.bins, sample_size=config.drift.sample_size
    )
    return check_drift(profile, current, config)
