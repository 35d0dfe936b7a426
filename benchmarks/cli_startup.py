"""Whole-process timings of `mlops-declare validate` and `compile` on the example project.

Target (issue 2): median of 5 runs <= 1.5 s each on a 2-core machine. Baseline measured in the
same script: a bare `python -c pass` and `python -c "import hydra, pydantic"` (the floor any
Hydra+pydantic CLI pays). Run: `python benchmarks/cli_startup.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def median_seconds(command: list[str], cwd: Path, runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=1.5, help="seconds; exit 1 when a median exceeds it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        shutil.copytree(REPO_ROOT / "conf", project / "conf")
        cli = [sys.executable, "-m", "mlops_declare"]
        subprocess.run([*cli, "compile"], cwd=project, check=True, capture_output=True)
        results = {
            "python -c pass": median_seconds([sys.executable, "-c", "pass"], project, args.runs),
            "import hydra, pydantic": median_seconds(
                [sys.executable, "-c", "import hydra, pydantic"], project, args.runs
            ),
            "mlops-declare validate": median_seconds([*cli, "validate"], project, args.runs),
            "mlops-declare compile": median_seconds([*cli, "compile"], project, args.runs),
        }
    floor = results["import hydra, pydantic"]
    print(f"{'command':<26} {'median s':>9} {'x hydra+pydantic import':>24}")
    for name, seconds in results.items():
        print(f"{name:<26} {seconds:>9.3f} {seconds / floor:>24.2f}")
    slow = [name for name in ("mlops-declare validate", "mlops-declare compile") if results[name] > args.target]
    if slow:
        print(f"over the {args.target} s target: {', '.join(slow)}")
        return 1
    print(f"both under the {args.target} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
