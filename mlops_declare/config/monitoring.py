"""Schema of the `monitoring` group: drift methods, thresholds, correction, windows, multivariate
drift, delayed-label performance and alerts.

Every method's score has a kind: a p-value (drift when below the threshold) or a distance (drift
when above). Default thresholds follow Evidently: 0.05 for p-values (`p_value`), 0.1 for distances
(`distance`: normed Wasserstein, Jensen-Shannon, PSI, Hellinger, KL divergence).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_declare.config.base import ColumnName, PositiveFloat, PositiveInt, StrictModel

DriftMethod = Literal[
    "auto",
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
    "hellinger",
    "kl_div",
    "anderson",
    "cramer_von_mises",
]
NumericMethod = Literal[
    "auto", "ks", "wasserstein", "jensenshannon", "psi", "hellinger", "kl_div", "anderson", "cramer_von_mises"
]
CategoricalMethod = Literal["auto", "chisquare", "z", "jensenshannon", "psi", "hellinger", "kl_div"]
Correction = Literal["none", "bonferroni", "fdr_bh"]

P_VALUE_METHODS = frozenset({"ks", "chisquare", "z", "anderson", "cramer_von_mises"})
"""Methods whose score is a p-value (drift when below the threshold); the rest are distances (drift when above)."""
CATEGORICAL_ONLY_METHODS = frozenset({"chisquare", "z"})
NUMERIC_ONLY_METHODS = frozenset({"ks", "wasserstein", "anderson", "cramer_von_mises"})


class ColumnThreshold(StrictModel):
    """A per-column override of method and threshold."""

    method: DriftMethod = "auto"
    """Test for this column."""
    threshold: PositiveFloat | None = None
    """Threshold for this column; the method's default (`p_value` or `distance`) when omitted."""


class Signals(StrictModel):
    """Data-quality changes reported as signals of their own, next to the distribution tests."""

    missing_share_change: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    """Signal when a column's share of missing values changes by more than this (absolute)."""
    unseen_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.01
    """Signal when more than this share of a categorical column's current values were never seen in the reference."""


class DriftConfig(StrictModel):
    """Per-column drift tests and the dataset-level decision (Evidently's vocabulary)."""

    columns: list[ColumnName] = Field(default_factory=list)
    """Columns to test; empty means every feature."""
    num_method: NumericMethod = "auto"
    """Test for numeric columns; auto picks KS up to `auto_switch_rows` reference rows, then normed Wasserstein
    (a numeric column with at most 5 distinct values is tested like a categorical one)."""
    cat_method: CategoricalMethod = "auto"
    """Test for categorical columns; auto picks chi-square (z for binary) up to `auto_switch_rows`, then Jensen-Shannon."""
    per_column: dict[ColumnName, ColumnThreshold] = Field(default_factory=dict)
    """Overrides by column."""
    p_value: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    """Default threshold of p-value methods: drift when the (corrected) p-value is below this."""
    distance: PositiveFloat = 0.1
    """Default threshold of distance methods: drift when the distance is above this."""
    correction: Correction = "bonferroni"
    """Multiple-testing correction across columns for p-value methods: none, bonferroni or fdr_bh (Benjamini-Hochberg)."""
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """Dataset drift when at least this share of tested columns drift."""
    auto_switch_rows: PositiveInt = 1000
    """Reference size above which `auto` switches from tests to distances."""
    bins: Annotated[int, Field(ge=2, le=1000)] = 30
    """Histogram bins of the reference profile (Jensen-Shannon, PSI, Hellinger, KL divergence, report charts)."""
    sample_size: Annotated[int, Field(ge=100, le=100_000)] = 5000
    """Reference rows kept in the profile (seeded) for two-sample tests and multivariate drift."""
    signals: Signals = Field(default_factory=Signals)
    """Missing-share change and unseen categories."""


class DomainClassifier(StrictModel):
    """Multivariate drift: how well a classifier tells reference rows from current rows (AUROC on held-out rows)."""

    enabled: bool = True
    """Run the domain-classifier test."""
    max_rows: Annotated[int, Field(ge=100, le=100_000)] = 5000
    """Rows drawn (seeded) from each side."""
    permutations: Annotated[int, Field(ge=20, le=10_000)] = 500
    """Label permutations of the held-out rows that calibrate the AUROC threshold."""
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    """Drift when the held-out AUROC exceeds the (1 - alpha) quantile of the permuted AUROCs ..."""
    min_auroc: Annotated[float, Field(ge=0.5, le=1.0)] = 0.55
    """... and is at least this (an effect size, so that tiny shifts at large n are not flagged)."""


class Reconstruction(StrictModel):
    """Multivariate drift: PCA reconstruction error of standardised numeric features (NannyML's data reconstruction)."""

    enabled: bool = True
    """Run the reconstruction-error test."""
    variance: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.65
    """Share of the reference variance the principal components keep."""
    chunks: Annotated[int, Field(ge=3, le=100)] = 10
    """Reference chunks whose errors give the threshold (mean + `sigmas` standard deviations)."""
    sigmas: PositiveFloat = 3.0
    """Width of the threshold band in standard deviations of the reference chunks' errors."""


class Multivariate(StrictModel):
    """Tests for shifts no single column shows (moving clusters, changed correlations)."""

    domain_classifier: DomainClassifier = Field(default_factory=DomainClassifier)
    """Domain-classifier test."""
    reconstruction: Reconstruction = Field(default_factory=Reconstruction)
    """PCA reconstruction-error test."""


class Window(StrictModel):
    """Which recent rows are compared against the reference."""

    size_rows: PositiveInt = 1000
    """Rows in the current window (the newest of the inference log)."""
    min_rows: PositiveInt = 100
    """Fewer rows than this: no verdict, reported as insufficient data."""

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.min_rows > self.size_rows:
            raise ValueError(f"`min_rows` ({self.min_rows}) is greater than `size_rows` ({self.size_rows})")
        return self


class FileLabels(StrictModel):
    """Delayed labels in a CSV or Parquet file."""

    kind: Literal["file"]
    path: str = Field(min_length=1)
    """CSV or Parquet file (relative to the project root) with the request id and the label."""
    id_column: ColumnName = "request_id"
    """Column holding the inference log's request id."""
    label_column: ColumnName = "label"
    """Column holding the true label (class name or value)."""


class SqlLabels(StrictModel):
    """Delayed labels in a SQL table."""

    kind: Literal["sql"]
    url: str = Field(min_length=1)
    """SQLAlchemy URL; keep passwords in `${oc.env:VAR}`."""
    table: ColumnName
    """Table holding the labels."""
    id_column: ColumnName = "request_id"
    """Column holding the inference log's request id."""
    label_column: ColumnName = "label"
    """Column holding the true label."""


Labels = Annotated[FileLabels | SqlLabels, Field(discriminator="kind")]


class Performance(StrictModel):
    """Performance on delayed ground-truth labels, and an estimate from confidences before they arrive."""

    metric: str = "accuracy"
    """Metric computed once labels arrive."""
    min: float | None = None
    """Alert when the metric falls below this."""
    max: float | None = None
    """Alert when the metric rises above this (error metrics)."""
    label_delay_hours: Annotated[float, Field(ge=0.0)] = 24.0
    """How long labels take to arrive."""
    labels: Labels | None = None
    """Where the delayed labels are, keyed by request id."""
    estimate: bool = True
    """Before labels arrive, estimate classification accuracy from the model's confidences (as NannyML's CBPE)."""


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
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Further attempts after a failed POST; then the failure is logged and the check goes on."""


Alert = Annotated[LogAlert | FileAlert | WebhookAlert, Field(discriminator="kind")]


def _default_alerts() -> list[LogAlert | FileAlert | WebhookAlert]:
    return [LogAlert(kind="log")]


class MonitoringConfig(StrictModel):
    """Drift detection, performance monitoring and alerts (retraining on drift: `orchestration.triggers.drift`)."""

    drift: DriftConfig = Field(default_factory=DriftConfig)
    """Drift tests."""
    multivariate: Multivariate = Field(default_factory=Multivariate)
    """Multivariate drift tests."""
    window: Window = Field(default_factory=Window)
    """Current window."""
    performance: Performance | None = None
    """Delayed-label performance monitoring, or none."""
    alerts: list[Alert] = Field(default_factory=lambda: _default_alerts())
    """Where alerts go."""
    keep_reports: PositiveInt = 100
    """Drift reports kept per model."""
