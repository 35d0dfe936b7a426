"""The step graph: the catalogue, the functions the code runs and the committed plan are one thing;
results travel in memory (local runner) and through XCom (Airflow), and a gate ends a run as an outcome."""

from __future__ import annotations

import inspect
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_declare.config import load_config
from mlops_declare.contracts.results import RESULT_MODELS
from mlops_declare.contracts.steps import STEPS, catalogue_problems, input_producers
from mlops_declare.steps import StepContext, StepError, check_signature, run_step, step_function
from tests.conftest import REPO_ROOT
from tests.runner import context_for


@pytest.mark.parametrize("step", STEPS, ids=[step.name for step in STEPS])
def test_each_declared_function_binds_its_inputs_by_name_and_returns_its_result(step) -> None:  # type: ignore[no-untyped-def]
    function = step_function(step.name)
    parameters = list(inspect.signature(function).parameters.values())
    assert parameters and parameters[0].annotation in (StepContext, "StepContext")
    assert check_signature(step) == []
    producers = input_producers(step, STEPS)
    for parameter in parameters[1 : 1 + len(step.inputs)]:
        # Each input is annotated with the result model of the step producing it.
        producer = next(s for s in STEPS if s.name == producers[parameter.name])
        assert parameter.annotation in (producer.result, RESULT_MODELS[producer.result]), (parameter, producer.result)
    assert all(parameter.default is not inspect.Parameter.empty for parameter in parameters[1 + len(step.inputs) :])
    assert inspect.signature(function).return_annotation in (step.result, RESULT_MODELS[step.result])


def test_the_catalogue_has_no_problems_and_snapshot_config_is_the_root_of_both_dags() -> None:
    assert catalogue_problems(STEPS) == []
    plan = json.loads((REPO_ROOT / "plan.json").read_text(encoding="utf-8"))
    for dag in plan["dags"]:
        heads = {edge[0] for edge in dag["edges"]} - {edge[1] for edge in dag["edges"]}
        assert heads == {"snapshot_config"}, (dag["dag_id"], heads)
    training = next(dag for dag in plan["dags"] if dag["role"] == "training")
    # The transitive reduction: one chain, no shortcut edges such as ingest >> train.
    chain = [task["name"] for task in training["tasks"]]
    assert [tuple(edge) for edge in training["edges"]] == list(itertools.pairwise(chain))
    train_task = next(task for task in training["tasks"] if task["name"] == "train")
    assert train_task["upstream"] == ["ingest", "validate_data"]  # still receives every producer's result


def test_a_gate_must_be_a_bool_field_of_the_result() -> None:
    promote = next(step for step in STEPS if step.name == "promote")
    broken = promote.model_copy(update={"gate": "ref"})
    assert catalogue_problems((*STEPS[:6], broken, *STEPS[7:])) == [
        "step 'promote' gates on 'ref', which is not a bool field of PromotionResult"
    ]


def test_committed_plan_lists_the_catalogue() -> None:
    plan = json.loads((REPO_ROOT / "plan.json").read_text(encoding="utf-8"))
    assert [step["name"] for step in plan["steps"]] == [step.name for step in STEPS]
    produced = {output["name"] for step in plan["steps"] for output in step["outputs"]}
    assert {artifact["name"] for artifact in plan["artifacts"]} == produced
    # The declared report is the file the data pipeline writes.
    report = next(artifact for artifact in plan["artifacts"] if artifact["name"] == "validation_report")
    assert report["location"].endswith("/data/report.json")


def test_a_step_refuses_to_run_without_its_producers_results_or_with_the_wrong_shape(project: Path) -> None:
    context = context_for(load_config(project / "conf"), project, "r1", "2026-11-26")
    with pytest.raises(StepError, match="step 'train' needs the results of 'ingest', 'validate_data'"):
        run_step("train", context, {})
    with pytest.raises(StepError, match="the result of step 'ingest' does not match DatasetResult"):
        run_step("validate_data", context, {"ingest": {"dataset_dir": "x"}})


def _cli(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_declare", *arguments], cwd=project, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_a_refused_candidate_ends_the_local_run_as_not_promoted(project: Path) -> None:
    result = _cli(
        project,
        "run",
        "--logical-date",
        "2026-11-26",
        "trainer.max_epochs=2",
        "trainer.early_stopping=null",
        "registry.stages.0.gate.thresholds.0.min=0.9999",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "promote: done" in result.stdout and "blessed=False" in result.stdout
    assert "ended at gate 'promote': not promoted" in result.stdout
    assert "deploy: skipped; gate 'promote' said no (blessed: false)" in result.stdout


AIRFLOW_RUN_WITHOUT_LOGICAL_DATE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.utils.session import create_session  # noqa: F401
dag = DagBag(dag_folder=sys.argv[1]).get_dag("example_training")
run = dag.test(logical_date=None)
print(json.dumps({"state": str(run.state), "logical_date": str(run.logical_date)}))
"""


@pytest.mark.slow
def test_airflow_run_without_a_logical_date_moves_results_through_xcom(project: Path, tmp_path: Path) -> None:
    """Asset-triggered and API-triggered runs have no `ds`; results travel through XCom, not run files."""
    compiled = _cli(project, "compile", "trainer.max_epochs=2", "trainer.early_stopping=null")
    assert compiled.returncode == 0, compiled.stderr
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    migrated = subprocess.run([airflow, "db", "migrate"], env=environment, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    result = subprocess.run(
        [sys.executable, "-c", AIRFLOW_RUN_WITHOUT_LOGICAL_DATE, str(project / "dags")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"state": "success", "logical_date": "None"}
    import sqlite3

    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as database:
        keys = {(task, key) for task, key in database.execute("select task_id, key from xcom")}
    assert {task for task, key in keys if key == "result"} == {step.name for step in STEPS if "training" in step.dags}
    run_dir = next((project / ".mlops" / "runs").iterdir())
    snapshot = json.loads((run_dir / "steps" / "snapshot_config.json").read_text(encoding="utf-8"))
    assert snapshot["logical_date_source"] == "run_after"
