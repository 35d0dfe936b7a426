"""The training benchmarks run at smoke size and print their ratios (figures are not asserted; CI machines vary)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def benchmark(name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / name), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_training_overhead_smoke() -> None:
    result = benchmark("training_overhead.py", "--smoke")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "framework / hand-written Lightning = " in result.stdout
    assert "framework / raw PyTorch loop       = " in result.stdout


def test_training_overhead_large_case_smoke() -> None:
    result = benchmark("training_overhead.py", "--large", "--smoke")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "large case: tabular transformer" in result.stdout and "goal < +3%" in result.stdout


def test_pruning_smoke() -> None:
    result = benchmark("pruning.py", "--smoke")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "digits_cnn: dense" in result.stdout and "breast_cancer_mlp: dense" in result.stdout
    assert "hidden [64, 32] -> [32, 16]" in result.stdout
    assert "speed-up" in result.stdout and "smaller (goal >= 40%" in result.stdout
    assert "smaller than dense (goal >= 3x" in result.stdout
    assert "reloaded package predicts identically: yes" in result.stdout
    assert "3. semi-structured 2:4" in result.stdout


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on machines without a GPU")
def test_gpu_precision_says_it_needs_a_gpu() -> None:
    result = benchmark("gpu_precision.py", "--smoke")
    assert result.returncode == 2
    assert "no CUDA GPU on this machine; this benchmark needs one" in result.stderr


def test_gpu_precision_code_paths_on_the_cpu() -> None:
    result = benchmark("gpu_precision.py", "--smoke", "--cpu-dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("32-true ") for line in lines)
    assert any(line.strip().startswith("bf16-mixed ") for line in lines)
    assert "framework / raw bf16 loop = " in result.stdout
