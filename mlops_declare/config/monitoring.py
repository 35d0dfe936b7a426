"""Schema of the `monitoring` group: drift methods, thresholds, correction, windows, alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_declare.config.base import ColumnName, PositiveFloat, PositiveInt, StrictModel

DriftMethod = Literal["auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]
NumericMethod = Literal["auto", "ks", "wasserstein", "jensenshannon", "psi"]
CategoricalMethod = Literal["auto", "chisquare", "z", "jensenshannon", "psi"]

P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
"""Methods whose score is a p-value (drift when below the threshold); the rest are distances."""


class ColumnThreshold(StrictModel):
    """A per-column override of method and threshold."""

    method: DriftMethod = "auto"
    """Test for this column."""
    threshold: PositiveFloat | None = None
    """Threshold for this column; the method's default when omitted."""


class DriftConfig(StrictModel):
    """Per-column drift tests and the dataset-level decision (Evidently's vocabulary)."""

    columns: list[ColumnName] = Field(default_factory=list)
    """Columns to test; empty means every feature."""
    num_method: NumericMethod = "auto"
    """Test for numeric columns; auto picks KS up to `auto_switch_rows` reference rows, then normed Wasserstein."""
    cat_method: CategoricalMethod = "auto"
    """Test for categorical columns; auto picks chi-square (z for binary), then Jensen-Shannon."""
    per_column: dict[ColumnName, ColumnThreshold] = Field(default_factory=dict)
    """Overrides by column."""
    p_value: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    """Drift when a p-value test's (corrected) p-value is below this."""
    distance: PositiveFloat = 0.1
    """Drift when a distance (Wasserstein, Jensen-Shannon, PSI) is above this."""
    correction: Literal["none", "bonferroni", "fdr"] = "bonferroni"
    """Multiple-testing correction across columns for p-value tests."""
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """Dataset drift when at least this share of tested columns drift."""
    auto_switch_rows: PositiveInt = 1000
    """Reference size at which `auto` switches from tests to distances."""
    bins: Annotated[int, Field(ge=2, le=1000)] = 30
    """Histogram bins for Jensen-Shannon and PSI."""


class Window(StrictModel):
    """Which recent rows are compared against the reference."""

    size_rows: PositiveInt = 1000
    """Rows in the current window."""
    min_rows: PositiveInt = 100
    """Fewer rows than this: no verdict, reported as insufficient data."""

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.min_rows > self.size_rows:
            raise ValueError(f"`min_rows` ({self.min_rows}) is greater than `size_rows` ({self.size_rows})")
        return self


class Performance(StrictModel):
    """Performance on delayed ground-truth labels."""

    metric: str = "accuracy"
    """Metric computed once labels arrive."""
    min: float | None = None
    """Alert when the metric falls below this."""
    max: float | None = None
    """Alert when the metric rises above this (error metrics)."""
    label_delay_hours: Annotated[float, Field(ge=0.0)] = 24.0
    """How long labels take to arrive."""


class LogAlert(StrictModel):
    """Write alerts to the log."""

    kind: Literal["log"]
    level: Literal["warning", "error"] = "warning"
    """Log level."""


class FileAlert(StrictModel):
    """Append alerts as JSON lines to a file."""

    kind: Literal["file"]
    path: str = Field(min_length=1)
    """File to append to."""


class WebhookAlert(StrictModel):
    """POST alerts as JSON to a URL (Slack-compatible)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    """Endpoint; keep tokens in `${oc.env:VAR}`."""
    timeout_s: PositiveFloat = 5.0
    """Request timeout."""


Alert = Annotated[LogAlert | FileAlert | WebhookAlert, Field(discriminator="kind")]


def _default_alerts() -> list[LogAlert | FileAlert | WebhookAlert]:
    return [LogAlert(kind="log")]


class MonitoringConfig(StrictModel):
    """Drift detection, performance monitoring, alerts and what happens on drift."""

    drift: DriftConfig = Field(default_factory=DriftConfig)
    """Drift tests."""
    window: Window = Field(default_factory=Window)
    """Current window."""
    performance: Performance | None = None
    """Delayed-label performance monitoring, or none."""
    alerts: list[Alert] = Field(default_factory=lambda: _default_alerts())
    """Where alerts go."""
    retrain_on_drift: bool = True
    """Trigger the training pipeline when dataset drift is detected."""
    keep_reports: PositiveInt = 100
    """Drift reports kept per model."""
