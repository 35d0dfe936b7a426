"""Benchmark of the drift check on two Parquet files, against Evidently's DataDriftPreset.

1,000,000 rows x 25 columns (20 numeric, 5 categorical) on each side; in the current file four
numeric columns are shifted by 0.5 sigma and one categorical column is reweighted. Timed: the whole
check as `mlops-declare drift --current FILE --reference FILE --json OUT` runs it (read both Parquet
files, profile the reference, test every column, multivariate tests, dataset verdict, write JSON),
in a process of its own so its peak RSS is its own. Goals: <= 5 s, <= 2 GB, exactly the drifted
columns found, and >= 20x faster than Evidently (`--peer evidently`, run in a virtualenv of its own
because it needs pandas < 3; `--evidently-python PATH` names that venv's python).

    python benchmarks/drift.py                        # 1,000,000 rows
    python benchmarks/drift.py --smoke                # tiny, for CI
    python benchmarks/drift.py --peer evidently --evidently-python /tmp/evidently-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NUMERIC = 20
CATEGORICAL = 5
SHIFTED_NUMERIC = ("n0", "n1", "n2", "n3")
REWEIGHTED = "c0"
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon"]


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(seed: int, drifted: bool) -> pa.Table:
        rng = np.random.default_rng(seed)
        columns: dict[str, Any] = {}
        for index in range(NUMERIC):
            name = f"n{index}"
            values = rng.normal(loc=index, scale=1.0 + index / 10, size=rows)
            if drifted and name in SHIFTED_NUMERIC:
                values += 0.5 * (1.0 + index / 10)
            columns[name] = values
        for index in range(CATEGORICAL):
            name = f"c{index}"
            weights = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
            if drifted and name == REWEIGHTED:
                weights = weights[::-1]
            columns[name] = pa.array(np.array(CATEGORIES)[rng.choice(len(CATEGORIES), rows, p=weights)])
        return pa.table(columns)

    reference, current = folder / "reference.parquet", folder / "current.parquet"
    pq.write_table(table(1, False), reference, compression="zstd")
    pq.write_table(table(2, True), current, compression="zstd")
    return reference, current


def run_ours(reference: Path, current: Path, output: Path) -> dict[str, Any]:
    """The check in this process (called in a child process by `measure`), timed per phase."""
    from mlops_declare.config.monitoring import MonitoringConfig
    from mlops_declare.monitor.check import prediction_column
    from mlops_declare.monitor.drift import check_drift
    from mlops_declare.monitor.multivariate import check_multivariate
    from mlops_declare.monitor.reference import file_profile
    from mlops_declare.monitor.report import write_json_report
    from mlops_declare.monitor.window import file_window

    imported = time.perf_counter()
    import scipy.stats  # noqa: F401 - imported before timing; reported as `imports`
    import sklearn.ensemble  # noqa: F401

    imports = time.perf_counter() - imported
    config = MonitoringConfig()
    univariate = config.model_copy(
        update={
            "multivariate": config.multivariate.model_copy(
                update={
                    "domain_classifier": config.multivariate.domain_classifier.model_copy(update={"enabled": False}),
                    "reconstruction": config.multivariate.reconstruction.model_copy(update={"enabled": False}),
                }
            )
        }
    )
    phases: dict[str, float] = {}
    cpu_start, start = time.process_time(), time.perf_counter()
    clock = start

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    profile = file_profile(reference, config.drift)
    lap("read+profile reference")
    window = file_window(current)
    lap("read current")
    drift = check_drift(profile, window.table, univariate, prediction_column(profile))
    lap("columns + verdict")
    drift["multivariate"] = check_multivariate(profile, window.table, list(profile.columns), config.multivariate)
    lap("multivariate")
    result = {"kind": "drift", "model": None, "window": window.to_json(), "drift_result": drift}
    write_json_report(output, result)
    lap("write JSON")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    dataset = drift["dataset"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "imports": imports,
        "phases": phases,
        "drifted": sorted(dataset["drifted_columns"]),
        "dataset_drift": dataset["dataset_drift"],
        "multivariate": {name: test["drifted"] for name, test in drift["multivariate"].items()},
    }


EVIDENTLY_SCRIPT = """
import json, resource, sys, time
imported = time.perf_counter()
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
imports = time.perf_counter() - imported
start = time.perf_counter()
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
result = snapshot.dict()
with open(sys.argv[3], "w") as stream:
    json.dump(result, stream, default=str)
drifted = []
for metric in result.get("metrics", []):
    value = metric.get("value")
    name = str(metric.get("metric_name", ""))
    if name.startswith("ValueDrift") and isinstance(value, (int, float)):
        config = metric.get("config", {})
        column = config.get("column")
        threshold = config.get("threshold")
        method = str(config.get("method", ""))
        is_p = "p_value" in method or "test" in method.lower() or name.find("p_value") >= 0
        if threshold is not None and ((value < threshold) if is_p else (value >= threshold)):
            drifted.append(column)
print(json.dumps({"seconds": time.perf_counter() - start, "imports": imports, "drifted": sorted(c for c in drifted if c),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(command: list[str]) -> tuple[dict[str, Any], float]:
    """Run `command` in a child process; its JSON result and its own peak RSS in MB."""
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result, float(result["peak_rss_mb"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 rows, no targets checked")
    parser.add_argument("--peer", choices=["evidently"], default=None)
    parser.add_argument("--evidently-python", default=None, help="python of a virtualenv with evidently and pandas<3")
    parser.add_argument("--child", nargs=3, metavar=("REFERENCE", "CURRENT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_ours(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0
    rows = 20_000 if args.smoke else args.rows
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        reference, current = write_files(folder, rows)
        ours, ours_rss = measure(
            [sys.executable, __file__, "--child", str(reference), str(current), str(folder / "ours.json")]
        )
        expected = sorted([*SHIFTED_NUMERIC, REWEIGHTED])
        print(f"rows per side: {rows:,} x {NUMERIC + CATEGORICAL} columns")
        print("ours, per phase: " + ", ".join(f"{name} {value:.2f} s" for name, value in ours["phases"].items()))
        print(
            f"ours:      {ours['seconds']:.2f} s wall, {ours['cpu_seconds']:.2f} s CPU (+ {ours['imports']:.1f} s importing scipy/sklearn), peak RSS {ours_rss:.0f} MB, drifted {ours['drifted']} "
            f"({'exactly the shifted columns' if ours['drifted'] == expected else 'EXPECTED ' + str(expected)}), "
            f"multivariate {ours['multivariate']}"
        )
        if args.peer == "evidently":
            python = args.evidently_python or "python"
            script = folder / "evidently_run.py"
            script.write_text(EVIDENTLY_SCRIPT)
            peer, peer_rss = measure(
                [python, str(script), str(reference), str(current), str(folder / "evidently.json")]
            )
            print(
                f"evidently: {peer['seconds']:.2f} s (+ {peer['imports']:.1f} s importing), peak RSS {peer_rss:.0f} MB, drifted {peer['drifted']}"
            )
            print(
                f"ratio: ours is {peer['seconds'] / ours['seconds']:.1f}x faster than Evidently's DataDriftPreset (target >= 20x)"
            )
        if not args.smoke:
            goals = [
                ("<= 5 s", ours["seconds"] <= 5.0),
                ("<= 2 GB RSS", ours_rss <= 2048),
                ("exact columns", ours["drifted"] == expected),
            ]
            print("goals: " + ", ".join(f"{name} {'met' if met else 'MISSED'}" for name, met in goals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
