"""The `orchestration` group: schedules (cron and presets), retries, triggers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_declare.config.orchestration import OrchestrationConfig, schedule_problem


@pytest.mark.parametrize(
    "schedule",
    ["@daily", "@weekly", "0 3 * * *", "*/15 * * * *", "0 0 1 jan,jul *", "30 2 * * mon-fri", "0 0 1-7 * 0"],
)
def test_valid_schedules(schedule: str) -> None:
    assert schedule_problem(schedule) is None
    assert OrchestrationConfig(training_schedule=schedule).training_schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("@fortnightly", "is not a schedule preset"),
        ("0 3 * *", "expected 5 fields"),
        ("0 24 * * *", "cron hour field '24' is invalid (values 0-23)"),
        ("0 0 0 * *", "cron day of month field '0' is invalid (values 1-31)"),
        ("*/0 * * * *", "cron minute field '*/0' is invalid"),
        ("0 0 * * funday", "cron day of week field 'funday' is invalid"),
    ],
)
def test_invalid_schedules(schedule: str, message: str) -> None:
    problem = schedule_problem(schedule)
    assert problem is not None and message in problem
    with pytest.raises(ValidationError):
        OrchestrationConfig(training_schedule=schedule)


def test_schedule_may_be_disabled() -> None:
    assert OrchestrationConfig(training_schedule=None).training_schedule is None


def test_start_date_format() -> None:
    with pytest.raises(ValidationError):
        OrchestrationConfig(start_date="26/11/2026")
