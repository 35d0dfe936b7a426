"""The generated DAGs under a real Airflow 3 scheduler: a retrain Asset event starts the training DAG,
a task killed with SIGKILL is retried without a duplicate version, the run ends deployed; under
`airflow dags test` a worse candidate ends "not promoted" with deploy skipped, not failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edit_yaml
from tests.integration.airflow.harness import AIRFLOW, airflow_cluster, compile_project

RETRAIN_URI = "mlops-declare://example/breast_cancer/retrain"
REQUEST = {
    "reason": "drift",
    "model": "breast_cancer:1",
    "check_id": 7,
    "window": {"start": "2026-11-01T00:00:00+00:00", "end": "2026-11-02T00:00:00+00:00", "rows": 500},
    "verdict": {
        "dataset_drift": True,
        "drift_share": 0.6,
        "drifted_columns": ["mean radius"],
        "multivariate": {},
        "performance": {},
    },
    "requested_at": "2026-11-02T00:00:00+00:00",
}
PRODUCER = """
import datetime
import json
from airflow.sdk import DAG, Asset, task

RETRAIN = Asset(URI)

with DAG(dag_id="test_drift_producer", schedule="@once", catchup=False,
         start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)):

    @task(outlets=[RETRAIN])
    def emit(*, outlet_events=None):
        outlet_events[RETRAIN].extra = json.loads(REQUEST)

    emit()
""".replace("URI", repr(RETRAIN_URI)).replace("REQUEST)", repr(json.dumps(REQUEST)) + ")")


def open_registry(project: Path) -> Any:
    from mlops_declare.config import load_config
    from mlops_declare.registry import open_registry as open_store

    return open_store(load_config(project / "conf").config.registry, project, read_only=False)


def step_result(project: Path, run_id: str, step: str) -> dict[str, Any]:
    """A step's recorded result in the folder of Airflow run `run_id` (`<project>_<role>_<date>_<digest of run_id>`)."""
    import hashlib

    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]
    (folder,) = (project / ".mlops" / "runs").glob(f"*_{digest}")
    return json.loads((folder / "steps" / f"{step}.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_retrain_event_starts_training_which_survives_a_sigkill_and_deploys(project: Path, tmp_path: Path) -> None:
    # retry_delay 1 minute (the least the config allows) so the killed task's retry comes soon.
    # The run promotes into production (what the service follows), so deploy has a bento to build.
    edit_yaml(project / "conf" / "registry" / "local.yaml", "min: 0.9, min_improvement", "min: 0.5, min_improvement")
    compile_project(project, "orchestration.retry_delay_minutes=1", "registry.auto_promote=[staging,production]")
    (project / "dags" / "test_drift_producer.py").write_text(PRODUCER)
    with airflow_cluster(tmp_path, project / "dags") as cluster:
        # The producer's event must start exactly one run of the training DAG, typed asset_triggered.
        # Kill `register` with SIGKILL as soon as its process reports in (pid in the task instance).
        deadline = time.monotonic() + 900
        killed = None
        while killed is None and time.monotonic() < deadline:
            rows = cluster.query(
                "select pid, state from task_instance where dag_id = 'example_training' and task_id = 'register' and try_number = 1"
            )
            if rows and rows[0][1] == "running" and rows[0][0]:
                try:
                    os.kill(int(rows[0][0]), signal.SIGKILL)
                    killed = int(rows[0][0])
                except ProcessLookupError:
                    pytest.fail("register finished before the test could kill it")
            elif rows and rows[0][1] in ("success", "failed"):
                pytest.fail(f"register ended ({rows[0][1]}) before the test could kill it")
            time.sleep(0.1)
        assert killed, f"register never ran:\n{cluster.logs()}"
        run_id, state = cluster.finished_run("example_training", "asset_triggered", timeout=900)
        tasks = cluster.task_states("example_training", run_id)
        assert state == "success", f"{tasks}\n{cluster.logs()}"
        assert [kind for _r, kind, _s in cluster.runs("example_training")] == ["asset_triggered"]
        assert tasks["register"][0] == "success" and tasks["register"][1] >= 2, tasks
        assert tasks["deploy"][0] == "success", tasks

    snapshot = step_result(project, run_id, "snapshot_config")
    assert snapshot["logical_date_source"] in ("asset_event", "run_after")
    assert snapshot["trigger"]["asset"] == RETRAIN_URI
    registered = step_result(project, run_id, "register")
    with open_registry(project) as registry:
        versions = registry.list_versions("breast_cancer")
        assert [version.version for version in versions] == [registered["version"]]  # no duplicate from the retry
        lineage = registry.resolve(registered["ref"]).lineage
        assert lineage.extra["trigger"]["extra"] == REQUEST
        assert lineage.extra["trigger"]["kind"] == "asset_event"
        assert registry.verify().ok
        deployments = registry.deployments("breast_cancer")
        deployed = step_result(project, run_id, "deploy")
        assert deployed["deployed"] is True, deployed
        assert any(record.status == "built" and record.target.startswith("bento:") for record in deployments)
        assert registry.resolve("breast_cancer@production").version == registered["version"]


@pytest.mark.slow
def test_worse_candidate_ends_not_promoted_with_deploy_skipped(project: Path, tmp_path: Path) -> None:
    """`airflow dags test`: a candidate below the gate leaves production unchanged; the run succeeds."""
    edit_yaml(project / "conf" / "registry" / "local.yaml", "min: 0.8}", "min: 0.9999}")
    compile_project(project)
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    assert subprocess.run([AIRFLOW, "db", "migrate"], env=environment, capture_output=True, timeout=300).returncode == 0
    result = subprocess.run(
        [AIRFLOW, "dags", "test", "example_training", "2026-11-26"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "DagRun Finished: dag_id=example_training" in output and "state=success" in output
    runs = list((project / ".mlops" / "runs").iterdir())
    promoted = json.loads((runs[0] / "steps" / "promote.json").read_text())
    assert promoted["blessed"] is False and promoted["refused"]
    assert not (runs[0] / "steps" / "deploy.json").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as database:
        states = dict(
            database.execute("select task_id, state from task_instance where dag_id = 'example_training'").fetchall()
        )
    assert states["promote"] == "success" and states["deploy"] == "skipped", states
    with open_registry(project) as registry:
        assert registry.labels("breast_cancer").get("production", ()) == ()
        assert not registry.deployments("breast_cancer")
