"""Benchmark of the data pipeline against a straightforward pandas implementation of the same steps.

Steps (both sides): generate a seeded table (20 numeric + 5 categorical columns), check 5
expectations, random 70/15/15 split, fit standardisation on train, write Parquet per split.
Ours additionally writes the reference profile, validation report and fingerprint.

Each side runs in its own process so peak RSS is measured separately.

    python benchmarks/data_pipeline.py               # 1,000,000 rows (goal: <= 10 s, <= 2 GB, >= 3x pandas)
    python benchmarks/data_pipeline.py --rows 20000  # smoke size for CI
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
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon"]


def data_config(rows: int) -> Any:
    from mlops_declare.config.data import DataConfig

    columns: list[dict[str, Any]] = [{"name": f"n{i}", "mean": float(i), "std": 1.0 + i / 10} for i in range(NUMERIC)]
    columns[0]["null_fraction"] = 0.01
    columns += [{"name": f"c{i}", "type": "categorical", "categories": CATEGORIES} for i in range(5)]
    return DataConfig.model_validate(
        {
            "name": "benchmark",
            "source": {"kind": "generated", "rows": rows, "seed": 0, "columns": columns},
            "columns": {"target": "target"},
            "expectations": [
                {"kind": "row_count", "min": 1},
                {"kind": "max_null_fraction", "column": "n0", "max": 0.05},
                {"kind": "range", "column": "n1", "min": -100.0, "max": 100.0},
                {"kind": "allowed_values", "column": "c0", "values": CATEGORIES},
                {"kind": "column_present", "column": "n2", "type": "float"},
            ],
            "split": {"kind": "random", "seed": 1},
            "preprocessing": {"scaling": "standard"},
        }
    )


def run_ours(rows: int, output: Path) -> dict[str, Any]:
    from mlops_declare.data import prepare_dataset

    data = data_config(rows)
    start, cpu = time.perf_counter(), time.process_time()
    prepared = prepare_dataset(data, output / "ours")
    return _timings(start, cpu) | {"fingerprint": prepared.fingerprint[:12]}


def _timings(start: float, cpu: float) -> dict[str, float]:
    """Wall time, and CPU time of all threads (less sensitive to other work on a shared machine)."""
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def run_pandas(rows: int, output: Path) -> dict[str, Any]:
    """What one would write by hand with pandas: same data, same checks, split, scaler, Parquet."""
    import numpy as np
    import pandas as pd

    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"n{i}": rng.normal(float(i), 1.0 + i / 10, rows) for i in range(NUMERIC)})
    frame.loc[rng.random(rows) < 0.01, "n0"] = np.nan
    for i in range(5):
        frame[f"c{i}"] = pd.Series(np.asarray(CATEGORIES, dtype=object)[rng.integers(0, 5, rows)])
    frame["target"] = (frame[[f"n{i}" for i in range(NUMERIC)]].fillna(0).sum(axis=1) > frame.shape[0] * 0).astype("int64")
    problems = []
    if len(frame) < 1:
        problems.append("row_count")
    if frame["n0"].isna().mean() > 0.05:
        problems.append("max_null_fraction")
    if not frame["n1"].dropna().between(-100, 100).all():
        problems.append("range")
    if not frame["c0"].dropna().isin(CATEGORIES).all():
        problems.append("allowed_values")
    if "n2" not in frame or not pd.api.types.is_float_dtype(frame["n2"]):
        problems.append("column_present")
    if problems:
        raise SystemExit(f"pandas baseline: expectations failed: {problems}")
    shuffled = frame.sample(frac=1.0, random_state=1)
    train_end, val_end = int(rows * 0.7), int(rows * 0.85)
    splits = {"train": shuffled.iloc[:train_end], "val": shuffled.iloc[train_end:val_end], "test": shuffled.iloc[val_end:]}
    numeric = [f"n{i}" for i in range(NUMERIC)]
    scaler = {"mean": splits["train"][numeric].mean().to_dict(), "std": splits["train"][numeric].std(ddof=0).to_dict()}
    folder = output / "pandas"
    folder.mkdir(parents=True)
    for name, split in splits.items():
        split.to_parquet(folder / f"{name}.parquet", compression="zstd", index=False)
    (folder / "scaler.json").write_text(json.dumps(scaler))
    return _timings(start, cpu)


def child(implementation: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = (run_ours if implementation == "ours" else run_pandas)(rows, Path(folder))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(implementation: str, rows: int) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--rows", str(rows), "--child", implementation],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    parser.add_argument("--child", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return 0
    ours = measure("ours", args.rows)
    baseline = measure("pandas", args.rows)
    ratio = baseline["seconds"] / ours["seconds"]
    print(f"rows: {args.rows:,} x {NUMERIC + 5} columns, 5 expectations, standardisation, random split, Parquet out")
    for label, result in (("mlops_declare", ours), ("pandas", baseline)):
        print(
            f"{label + ':':<14} {result['seconds']:.2f} s wall, {result['cpu_seconds']:.2f} s CPU, "
            f"peak RSS {result['peak_rss_mb']:.0f} MB"
        )
    print(f"ratio (pandas / mlops_declare wall time): {ratio:.2f}x")
    print(json.dumps({"rows": args.rows, "ours": ours, "pandas": baseline, "ratio": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
