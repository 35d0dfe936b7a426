"""Continuous training: a retrain on new data is gated against the holder re-scored on that same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FAST = [
    "trainer.max_epochs=3",
    "trainer.early_stopping=null",
    "registry.auto_promote=[staging,production]",
    "registry.stages.0.gate.thresholds.0.min=0.5",
    "registry.stages.1.gate.thresholds.0.min=0.5",
]


def run(project: Path, *overrides: str, date: str) -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        [sys.executable, "-m", "mlops_declare", "run", "--logical-date", date, *FAST, *overrides],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    runs = sorted((project / ".mlops" / "runs").glob(f"*{date}*"))
    return json.loads((runs[-1] / "steps" / "promote.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_retrain_on_new_data_is_compared_on_the_same_data(project: Path) -> None:
    first = run(project, date="2026-11-25")
    assert first["promoted"] == ["staging", "production"]
    assert first["holders_rescored_on_this_data"] == {}

    # New data: another split of the source gives another dataset fingerprint.
    second = run(project, "data.split.seed=7", date="2026-11-26")
    assert second["holders_rescored_on_this_data"] == {"staging": "breast_cancer:1", "production": "breast_cancer:1"}
    refused = second["refused"]
    if refused:
        # A refusal must be about the numbers, never about comparing different data.
        checks = [check["message"] for decision in refused.values() for check in decision["checks"]]
        assert not any("evaluated on" in message for message in checks), checks
    else:
        assert second["promoted"] == ["staging", "production"]

    history = subprocess.run(
        [sys.executable, "-m", "mlops_declare", "registry", "history", "breast_cancer", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    events = json.loads(history.stdout)
    production = [
        event
        for event in events
        if event.get("kind") == "evaluated" and event.get("label") == "production" and event.get("version") == 2
    ]
    assert production, events
    improvement = [check for check in production[-1]["details"]["checks"] if check["condition"] == "improvement"]
    assert improvement and improvement[0]["baseline_value"] is not None, production[-1]
    assert "evaluated on" not in improvement[0]["message"]
