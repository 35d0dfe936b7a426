"""Generated DAG files import cleanly in Airflow's DagBag, with the tasks, schedule and retries the config says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tasks": sorted(t.task_id for t in dag.tasks),
            "timetable": type(dag.timetable).__name__,
            "summary": getattr(dag.timetable, "summary", ""),
            "retries": sorted({t.retries for t in dag.tasks}),
            "queues": sorted({t.queue for t in dag.tasks}),
            "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


def dagbag(folder: Path, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)], env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_committed_dags_import_without_errors(tmp_path: Path) -> None:
    report = dagbag(REPO_ROOT / "dags", tmp_path)
    assert report["errors"] == {}
    assert "example_training" in report["dags"]
    training = report["dags"]["example_training"]
    assert training["retries"] == [2]
    # triggers.drift is on: the weekly cron or the monitoring DAG's retrain Asset starts a run.
    assert training["timetable"] == "AssetOrTimeSchedule"


@pytest.mark.slow
@pytest.mark.parametrize("case", ["example", "digits_cnn", "new_data_trigger"])
def test_golden_dags_import_without_errors(case: str, tmp_path: Path) -> None:
    report = dagbag(REPO_ROOT / "tests" / "golden" / case / "dags", tmp_path)
    assert report["errors"] == {}
    training = report["dags"]["example_training"]
    assert training["upstream"]["ingest"] == ["snapshot_config"]
    assert training["upstream"]["train"] == ["validate_data"]
    assert training["upstream"]["promote"] == ["register"]  # the drawn edges are the transitive reduction
    if case == "new_data_trigger":
        assert training["timetable"] == "AssetOrTimeSchedule"
        assert training["queues"] == ["default", "training"]


@pytest.mark.slow
def test_airflow_dags_test_runs_the_compiled_pipeline(project: Path, tmp_path: Path) -> None:
    """`airflow dags test` on SQLite runs every task of the compiled training DAG to success."""
    compiled = subprocess.run(
        [sys.executable, "-m", "mlops_declare", "compile", "trainer.max_epochs=2", "trainer.early_stopping=null"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    airflow = str(Path(sys.executable).parent / "airflow")
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
    }
    migrated = subprocess.run([airflow, "db", "migrate"], env=environment, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    result = subprocess.run(
        [airflow, "dags", "test", "example_training", "2026-11-26"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "state=success" in output and "DagRun Finished: dag_id=example_training" in output
    assert "step register result:" in output and '"ref": "breast_cancer:1"' in output  # the task log says what it did
    plan = json.loads((project / "plan.json").read_text())
    runs = list((project / ".mlops" / "runs").iterdir())
    assert len(runs) == 1
    finished = sorted(path.stem for path in (runs[0] / "steps").glob("*.json"))
    assert finished == sorted(step["name"] for step in plan["steps"] if "training" in step["dags"])
    # Named as local runs are: <project>_<dag role>_<logical date>_<8 hex>, not Airflow's manual__<timestamp>.
    assert runs[0].name.startswith("example_training_2026-11-26_") and len(runs[0].name.rsplit("_", 1)[1]) == 8
