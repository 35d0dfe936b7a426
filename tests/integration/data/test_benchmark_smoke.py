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
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["rows"] == 20000
    assert set(result["results"]) == {"csv", "parquet", "generated"}
    for row in result["results"].values():
        assert row["ours"]["seconds"] > 0 and row["pandas"]["seconds"] > 0 and row["floor"]["seconds"] > 0
        assert row["speedup_vs_pandas"] > 0 and row["ratio_to_floor"] > 0
    # The same file gives the same dataset whichever way it arrives.
    assert result["results"]["csv"]["ours"]["fingerprint"] == result["results"]["parquet"]["ours"]["fingerprint"]
    assert "pandas/ours" in completed.stdout and "ours/floor" in completed.stdout
