"""The data pipeline benchmark runs end to end at smoke size (timings are reported, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_benchmark_runs_at_smoke_size() -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "data_pipeline.py"), "--rows", "20000"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["rows"] == 20000
    assert result["ours"]["seconds"] > 0 and result["pandas"]["seconds"] > 0 and result["ratio"] > 0
    assert "ratio (pandas / mlops_declare wall time)" in completed.stdout
