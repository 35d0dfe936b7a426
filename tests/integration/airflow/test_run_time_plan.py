"""plan.json is the one run-time artefact: DAG files hold structure only, a task refuses a plan its file was
not generated from, a Kubernetes pod runs the plan baked into its image with the run's logical date and
trigger, and a DAG file works from a dags folder shared with other projects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_declare.compiler import compile_outputs
from mlops_declare.config import load_config
from mlops_declare.contracts.environment import project_root_variable
from mlops_declare.contracts.plan import PlanError, read_plan
from mlops_declare.contracts.seams import RunContext
from mlops_declare.steps.core import locate_project, task_context
from tests.conftest import require_ci_module
from tests.integration.airflow.harness import compile_project
from tests.integration.test_airflow_dags import dagbag

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_a_serving_change_changes_the_plan_and_the_service_but_not_the_dags(project: Path) -> None:
    _, before = compile_outputs(load_config(project / "conf"))
    _, after = compile_outputs(load_config(project / "conf", ["serving.port=3999"]))
    changed = sorted(path for path in before if before[path] != after[path])
    assert "plan.json" in changed and "service/service.py" in changed
    assert [path for path in changed if path != "plan.json" and not path.startswith("service/")] == []
    training = before["dags/example_training.py"]
    assert "PLAN_FINGERPRINT = " in training and "CONFIG_JSON" not in training
    assert '"max_epochs"' not in training and "breast_cancer" in training  # structure (Asset URIs), no config
    assert len(training.splitlines()) < 150


def test_a_task_refuses_a_plan_its_dag_file_was_not_generated_from(project: Path) -> None:
    compile_project(project)
    plan = read_plan(project / "plan.json")
    run = RunContext(run_id="example_training_2026-11-26_0000abcd", logical_date="2026-11-26")
    with pytest.raises(PlanError, match=r"was generated from another plan .* run `mlops-declare compile`$"):
        task_context(project, "example_training", "0" * 64, "dags/example_training.py", run)
    context = task_context(project, "example_training", plan.dag("training").fingerprint, "dags/x.py", run)
    assert context.plan.fingerprint == plan.fingerprint and context.loaded.config.project.name == "example"


def test_a_later_task_without_the_run_snapshot_says_it_runs_the_project_plan(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    compile_project(project)
    plan = read_plan(project / "plan.json")
    run = RunContext(run_id="example_training_2026-11-26_0000abcd", logical_date="2026-11-26")
    fingerprint = plan.dag("training").fingerprint
    with caplog.at_level("WARNING", logger="mlops_declare.steps"):
        task_context(project, "example_training", fingerprint, "dags/x.py", run, "snapshot_config")
        assert caplog.records == []  # the root step is the one that writes the snapshot
        task_context(project, "example_training", fingerprint, "dags/x.py", run, "train")
    assert "step train: run example_training_2026-11-26_0000abcd has no plan snapshot here" in caplog.text
    assert f"running the project's plan.json (plan {plan.fingerprint[:12]})" in caplog.text


def test_the_project_folder_comes_from_deployment_config(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compile_project(project)
    shared = tmp_path / "shared_dags"
    shared.mkdir()
    copied = shared / "example_training.py"
    shutil.copy(project / "dags" / "example_training.py", copied)
    monkeypatch.delenv("MLOPS_DECLARE_PROJECT_ROOT", raising=False)
    monkeypatch.delenv(project_root_variable("example"), raising=False)
    with pytest.raises(PlanError, match=r"set the environment variable MLOPS_DECLARE_ROOT_EXAMPLE"):
        locate_project("example", copied)
    # In its own project (dags/ beside plan.json) the file finds it; elsewhere the variable or Airflow Variable says.
    assert locate_project("example", project / "dags" / "example_training.py") == project.resolve()
    assert locate_project("example", copied, {"mlops_declare_root_example": str(project)}) == project.resolve()
    monkeypatch.setenv("MLOPS_DECLARE_ROOT_EXAMPLE", str(project))
    assert locate_project("example", copied) == project.resolve()


RENDER_POD_ARGUMENTS = """
import datetime, json, sys
from types import SimpleNamespace
from airflow.dag_processing.dagbag import DagBag

dag = DagBag(dag_folder=sys.argv[1]).dags["example_training"]
request = json.loads(sys.argv[2])
upstream = json.loads(sys.argv[3])
event = SimpleNamespace(
    asset=SimpleNamespace(uri="mlops-declare://example/breast_cancer/retrain"),
    timestamp=datetime.datetime(2026, 11, 27, 8, 30, tzinfo=datetime.timezone.utc),
    extra=request,
)


class TaskInstance:
    def xcom_pull(self, task_ids=None, key="return_value"):
        return upstream.get(task_ids)


context = {
    "run_id": "asset_triggered__2026-11-27T08:30:00+00:00",
    "dag_run": SimpleNamespace(run_type="asset_triggered", conf={}, logical_date=None,
                               run_after=datetime.datetime(2026, 11, 27, 8, 31, tzinfo=datetime.timezone.utc)),
    "triggering_asset_events": {"retrain": [event]},
    "ti": TaskInstance(),
}
rendered = {}
for task_id in sys.argv[4].split(","):
    task = dag.get_task(task_id)
    task.render_template_fields(context)
    rendered[task_id] = {"cmds": task.cmds, "arguments": task.arguments,
                         "env": {e.name: e.value for e in task.env_vars}}
print(json.dumps(rendered))
"""

RETRAIN_REQUEST = {
    "reason": "drift",
    "model": "breast_cancer:1",
    "check_id": 7,
    "window": {"start": "2026-11-26T00:00:00+00:00", "end": "2026-11-27T00:00:00+00:00", "rows": 500},
    "verdict": {"dataset_drift": True, "drift_share": 0.5, "drifted_columns": ["mean radius"]},
    "requested_at": "2026-11-27T08:29:00+00:00",
}


def _render_pod_arguments(project: Path, tmp_path: Path, upstream: dict[str, object], tasks: str) -> dict[str, dict]:  # type: ignore[type-arg]
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RENDER_POD_ARGUMENTS,
            str(project / "dags"),
            json.dumps(RETRAIN_REQUEST),
            json.dumps(upstream),
            tasks,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _run_pod(image: Path, rendered: dict, tmp_path: Path, name: str) -> dict:  # type: ignore[type-arg]
    """The pod's command with its rendered arguments, in a folder holding only the image's files."""
    xcom = tmp_path / f"{name}.xcom.json"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLOPS_DECLARE")}
    environment["MLOPS_DECLARE_PROJECT_ROOT"] = str(image)  # the pod's env var names the image's project folder
    command = [sys.executable if part == "python" else part for part in rendered["cmds"]]
    result = subprocess.run(
        [*command, *rendered["arguments"], "--xcom-file", str(xcom)],
        cwd=image,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return json.loads(xcom.read_text())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_kubernetes_pod_runs_the_compiled_plan_with_the_logical_date_and_the_retrain_request(
    project: Path, tmp_path: Path
) -> None:
    require_ci_module(
        "airflow.providers.cncf.kubernetes", "apache-airflow-providers-cncf-kubernetes (also the `kubernetes` extra)"
    )
    compile_project(
        project,
        "orchestration.task_runner=kubernetes",
        "orchestration.kubernetes.image=registry.example/mlops/example:1.0",
        "orchestration.kubernetes.project_root=/project",
    )
    plan = read_plan(project / "plan.json")
    # The image holds the compiled plan and nothing else of the project: no conf/ to recompose.
    image = tmp_path / "image"
    image.mkdir()
    shutil.copy(project / "plan.json", image / "plan.json")

    rendered = _render_pod_arguments(project, tmp_path, {}, "snapshot_config")["snapshot_config"]
    assert rendered["cmds"] == ["python", "-m", "mlops_declare.steps.pod"]
    assert rendered["env"]["MLOPS_DECLARE_PROJECT_ROOT"] == "/project"
    snapshot = _run_pod(image, rendered, tmp_path, "snapshot_config")
    assert snapshot["plan_fingerprint"] == plan.fingerprint
    assert snapshot["config_fingerprint"] == plan.config_fingerprint
    assert (snapshot["logical_date"], snapshot["logical_date_source"]) == ("2026-11-27", "asset_event")
    assert snapshot["trigger"]["kind"] == "asset_event"
    assert snapshot["trigger"]["asset"] == "mlops-declare://example/breast_cancer/retrain"
    assert snapshot["trigger"]["extra"] == RETRAIN_REQUEST
    runs = list((image / ".mlops" / "runs").iterdir())
    assert [run.name[: len("example_training_2026-11-27_")] for run in runs] == ["example_training_2026-11-27_"]
    assert read_plan(runs[0] / "plan.json").fingerprint == plan.fingerprint

    # The next pod gets that result through its templated XCom pull and works in the same run folder.
    ingest = _render_pod_arguments(project, tmp_path, {"snapshot_config": snapshot}, "ingest")["ingest"]
    ingested = _run_pod(image, ingest, tmp_path, "ingest")
    assert ingested["dataset_dir"] == f".mlops/runs/{runs[0].name}/data"
    assert (image / ingested["dataset_dir"] / "train.parquet").is_file()
    assert sorted(path.name for path in image.iterdir()) == [".mlops", "plan.json"]


@pytest.mark.slow
def test_a_dag_in_a_shared_dags_folder_parses_and_runs_its_task(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(project, other)
    compile_project(project)
    compile_project(other, "project.name=other")
    shared = tmp_path / "airflow_dags"
    shared.mkdir()
    for folder in (project, other):
        for dag in (folder / "dags").glob("*.py"):
            shutil.copy(dag, shared / dag.name)
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("MLOPS_DECLARE")},
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(shared),
        "MLOPS_DECLARE_ROOT_EXAMPLE": str(project),
        "MLOPS_DECLARE_ROOT_OTHER": str(other),
    }
    parsed = dagbag(shared, tmp_path)
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {"example_training", "example_monitoring", "other_training", "other_monitoring"}
    migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=environment, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    ran = subprocess.run(
        [AIRFLOW, "tasks", "test", "other_training", "snapshot_config", "2026-11-26"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
    runs = list((other / ".mlops" / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("other_training_2026-11-26_")
    assert read_plan(runs[0] / "plan.json").project == "other"
    assert not (project / ".mlops" / "runs").exists() and not (shared / ".mlops").exists()
