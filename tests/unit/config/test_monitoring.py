"""The `monitoring` group: drift thresholds, windows and alerts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_declare.config.monitoring import DriftConfig, MonitoringConfig, Window


def test_defaults_follow_evidently_and_alibi() -> None:
    drift = DriftConfig()
    assert (drift.p_value, drift.distance, drift.drift_share, drift.auto_switch_rows) == (0.05, 0.1, 0.5, 1000)
    assert drift.correction == "bonferroni"


@pytest.mark.parametrize("p_value", [0.0, 1.0, -0.1])
def test_p_value_strictly_between_zero_and_one(p_value: float) -> None:
    with pytest.raises(ValidationError):
        DriftConfig(p_value=p_value)


def test_window_min_rows_not_above_size() -> None:
    with pytest.raises(ValidationError, match="`min_rows` \\(200\\) is greater than `size_rows` \\(100\\)"):
        Window(size_rows=100, min_rows=200)


def test_alerts_are_a_union_on_kind() -> None:
    config = MonitoringConfig.model_validate(
        {"alerts": [{"kind": "file", "path": "alerts.jsonl"}, {"kind": "webhook", "url": "https://example.invalid/x"}]}
    )
    assert [alert.kind for alert in config.alerts] == ["file", "webhook"]
    with pytest.raises(ValidationError):
        MonitoringConfig.model_validate({"alerts": [{"kind": "webhook", "url": "ftp://example.invalid"}]})


def test_unknown_drift_method_rejected() -> None:
    with pytest.raises(ValidationError):
        DriftConfig.model_validate({"num_method": "chisquare"})
