"""Layering: `validate` and `compile` never import the heavy runtime libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HEAVY = ["torch", "lightning", "bentoml", "airflow", "duckdb", "pyarrow", "sklearn"]

PROBE = """
import json, sys
from mlops_declare.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


@pytest.mark.parametrize("arguments", [["validate"], ["compile"], ["plan"], ["validate", "experiment=digits_cnn"]])
def test_config_verbs_import_no_heavy_library(project: Path, arguments: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
