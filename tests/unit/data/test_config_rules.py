"""Config rules the data pipeline relies on, checked when the config is validated (before any data is read)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.data.helpers import config

GENERATED: dict[str, Any] = {"kind": "generated", "rows": 10, "columns": [{"name": "a"}]}


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (
            {"kind": "column_present", "column": "a"},
            "column_present checks the whole table; policy 'quarantine' does not apply",
        ),
        (
            {"kind": "freshness", "column": "a", "max_age_hours": 1.0},
            "freshness checks the newest row only; policy 'quarantine' does not apply",
        ),
        ({"kind": "row_count", "min": 1}, "row_count checks the whole table; policy 'quarantine' does not apply"),
    ],
)
def test_quarantine_only_for_row_level_expectations(expectation: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(GENERATED, expectations=[{**expectation, "policy": "quarantine"}])


@pytest.mark.parametrize(
    ("columns", "drift", "message"),
    [
        ([{"name": "target"}], None, "'target' is the generated label column"),
        ([{"name": "a"}, {"name": "a"}], None, "columns listed twice: a"),
        ([{"name": "a"}], {"shift": 1.0, "columns": ["b"]}, "drift.columns names columns that are not generated: b"),
    ],
)
def test_generated_source_rules(columns: list[dict[str, Any]], drift: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config({**GENERATED, "columns": columns, "drift": drift})


def test_features_known_at_compile_time_only_without_transforms() -> None:
    from mlops_declare.config.data import declared_features

    plain = config(GENERATED)
    transformed = config(GENERATED, transforms=[{"kind": "drop", "columns": ["a"]}])
    declared = config(GENERATED, transforms=[{"kind": "drop", "columns": ["a"]}], columns={"features": [{"name": "b"}]})
    assert [feature.name for feature in declared_features(plain) or []] == ["a"]
    assert declared_features(transformed) is None
    assert [feature.name for feature in declared_features(declared) or []] == ["b"]
