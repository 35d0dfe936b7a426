"""The contracts package: declared once, pure, and the only place the code's environment variables are named."""

from __future__ import annotations

import re
import subprocess
import sys

from mlops_declare.contracts.environment import VARIABLES, project_root_variable
from mlops_declare.contracts.results import RESULT_MODELS
from mlops_declare.contracts.seams import INFERENCE_LOG_COLUMNS, INFERENCE_LOG_SCHEMA, RetrainRequest, Trigger
from mlops_declare.contracts.steps import STEPS, transitive_reduction
from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "mlops_declare"
VARIABLE_LITERAL = re.compile(r"[\"'](MLOPS_DECLARE_[A-Z_]+|AIRFLOW_CTX_[A-Z_]+|LOCAL_RANK|NODE_RANK)[\"']")


def test_environment_variables_are_named_only_in_contracts_environment() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(1)}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "environment.py"
        for match in VARIABLE_LITERAL.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    declared = {variable.name for variable in VARIABLES}
    assert {"MLOPS_DECLARE_PROJECT_ROOT", "MLOPS_DECLARE_FULL_ERROR", "MLOPS_DECLARE_VERBOSE"} <= declared
    assert project_root_variable("my-shop.eu") == "MLOPS_DECLARE_ROOT_MY_SHOP_EU"


def test_contracts_import_no_heavy_library() -> None:
    probe = (
        "import sys, mlops_declare.contracts.plan, mlops_declare.contracts.results, mlops_declare.contracts.layouts;"
        "print(sorted(m for m in ('torch','bentoml','airflow','duckdb','pyarrow','omegaconf','hydra','numpy')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_step_declares_a_known_result_and_the_inference_log_schema_is_one_declaration() -> None:
    assert {step.result for step in STEPS} <= set(RESULT_MODELS)
    assert INFERENCE_LOG_COLUMNS[: len(INFERENCE_LOG_SCHEMA)] == tuple(name for name, _ in INFERENCE_LOG_SCHEMA)


def test_a_trigger_carries_a_typed_retrain_request() -> None:
    request = {
        "reason": "drift",
        "model": "m:1",
        "check_id": 3,
        "window": {"start": None, "end": None, "rows": 10},
        "verdict": {"dataset_drift": True, "drift_share": 0.5, "drifted_columns": ["a"]},
        "requested_at": "2026-11-27T00:00:00+00:00",
    }
    assert Trigger(kind="asset_event", extra=request).retrain_request() == RetrainRequest.model_validate(request)
    assert Trigger(kind="dag_run_conf", extra={"current": "x.parquet"}).retrain_request() is None


def test_transitive_reduction_keeps_only_edges_no_longer_path_implies() -> None:
    edges = (("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("a", "d"), ("b", "e"))
    assert transitive_reduction(edges) == (("a", "b"), ("b", "c"), ("c", "d"), ("b", "e"))
