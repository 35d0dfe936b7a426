"""benchmarks/registry.py runs at smoke size on both databases and prints its figures and ratios.

Whether the resolve target is met is the benchmark's report, not this test's verdict: timings on a
shared machine are not behaviour.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_registry_benchmark_smoke(backend: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "registry.py"),
            "--versions",
            "100",
            "--package-mb",
            "0.2",
            "--resolves",
            "20",
            "--backend",
            backend,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for figure in (
        "register",
        "load (verified)",
        "baseline; register is",
        "resolve name@production",
        "at 100 versions",
        "target resolve name@stage < 5.0 ms: ",
    ):
        assert figure in result.stdout, figure
    assert re.search(r"resolve name@production\s+\d+\.\d+ ms  median", result.stdout), result.stdout
