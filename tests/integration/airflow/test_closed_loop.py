"""The loop closed through a real Airflow 3 scheduler, as a new user would run it: the training DAG
deploys version 1, `mlops-declare serve` serves it and logs drifted traffic, the monitoring DAG finds
the drift and emits the retrain Asset, the scheduler starts the training DAG from it, version 2 is
registered with the drift in its lineage, promoted and deployed, and the running service swaps to it
under load with no failed request; `registry history` shows every move."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import edit_yaml
from tests.integration.airflow.harness import PROJECT_OVERRIDES, airflow_cluster, compile_project
from tests.integration.airflow.test_loop import RETRAIN_URI, step_result
from tests.integration.test_cli import SHIFTED_FEATURES, drifted_records, open_registry, send, wait_for_rows

SETTINGS = (
    "registry.auto_promote=[staging,production]",
    "serving.reload_s=2",
    "monitoring.window.size_rows=100",
    "monitoring.window.min_rows=50",
    "monitoring.drift.drift_share=0.2",
    "orchestration.triggers.min_retrain_interval_hours=0",
)


def served_version(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/metadata", timeout=5).json().get("version")  # type: ignore[no-any-return]
    except httpx.HTTPError:
        return None


@pytest.mark.slow
def test_drifted_traffic_retrains_promotes_and_swaps_the_running_service(project: Path, tmp_path: Path) -> None:
    from tests.integration.serve.conftest import serve

    edit_yaml(project / "conf" / "registry" / "local.yaml", "min: 0.9, min_improvement: 0.0}", "min: 0.5}")
    compile_project(project, *SETTINGS)
    with airflow_cluster(tmp_path, project / "dags") as cluster:
        env = {"BENTOML_HOME": cluster.env["BENTOML_HOME"], "MLOPS_DECLARE_SERVE_CACHE": str(tmp_path / "serve-cache")}
        for dag_id in ("example_training", "example_monitoring"):
            cluster.wait_for_dag(dag_id)
        # 1. A manual training run: version 1 through staging into production, its bento built.
        triggered = cluster.cli("dags", "trigger", "example_training")
        assert triggered.returncode == 0, triggered.stderr[-3000:]
        first_run, state = cluster.finished_run("example_training", "manual", timeout=900)
        assert state == "success", f"{cluster.task_states('example_training', first_run)}\n{cluster.logs()}"
        with open_registry(project) as registry:
            assert registry.resolve("breast_cancer@production").version == 1
            assert [(r.version, r.status) for r in registry.deployments("breast_cancer")][:1] == [(1, "built")]

        # 2. The deployed model served by `mlops-declare serve`; drifted traffic through HTTP into the inference log.
        server = serve(
            project, *PROJECT_OVERRIDES, *SETTINGS, "serving.inference_log.part_max_seconds=1", env=env, name="loop"
        )
        try:
            assert served_version(server.url) == 1
            send(server.url, drifted_records(100))
            wait_for_rows(project / ".mlops", 100)

            # 3. The monitoring DAG: drift found, the retrain Asset emitted with the request as its extra.
            triggered = cluster.cli("dags", "trigger", "example_monitoring")
            assert triggered.returncode == 0, triggered.stderr[-3000:]
            check_run, state = cluster.finished_run("example_monitoring", "manual", timeout=600)
            checked = cluster.task_states("example_monitoring", check_run)
            assert state == "success" and checked["request_retrain"][0] == "success", f"{checked}\n{cluster.logs()}"
            act = step_result(project, check_run, "act")
            assert act["dataset_drift"] is True and act["retrain_requested"] is True, act
            events = cluster.query(
                "select a.uri, e.extra from asset_event e join asset a on a.id = e.asset_id where a.uri = %s",
                RETRAIN_URI,
            )
            assert [extra for _uri, extra in events] == [act["retrain"]]

            # 4. In-distribution load while the scheduler runs the training DAG from the event, to the swap.
            answers: list[tuple[int, int | None]] = []
            stop = threading.Event()

            def load() -> None:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    while not stop.is_set():
                        response = client.post("/predict", json={"records": drifted_records(4, sigmas=0.0)})
                        answers.append((response.status_code, response.json().get("version")))
                        time.sleep(0.2)

            worker = threading.Thread(target=load)
            worker.start()
            try:
                retrain_run, state = cluster.finished_run("example_training", "asset_triggered", timeout=900)
                retrained = cluster.task_states("example_training", retrain_run)
                assert state == "success" and retrained["deploy"][0] == "success", f"{retrained}\n{cluster.logs()}"
                cluster.wait_for("the service to serve version 2", lambda: served_version(server.url) == 2, timeout=120)
                time.sleep(1)
            finally:
                stop.set()
                worker.join(60)
        finally:
            server_log = server.stop()
        assert answers and all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
        versions = [version or 0 for _status, version in answers]
        assert versions[0] == 1 and versions[-1] == 2 and versions == sorted(versions), versions
        assert [kind for _r, kind, _s in cluster.runs("example_training")] == ["manual", "asset_triggered"]

    # 5. Version 2 carries the drift that caused it; the registry and its CLI history record every move.
    request = act["retrain"]
    assert (
        request["reason"] == "drift"
        and request["model"] == "breast_cancer:1"
        and request["check_id"] == act["check_id"]
    )
    assert set(SHIFTED_FEATURES) & set(request["verdict"]["drifted_columns"])
    with open_registry(project) as registry:
        version = registry.resolve("breast_cancer@production")
        assert version.version == 2 and version.lineage.parent_version == 1
        trigger = version.lineage.extra["trigger"]
        assert trigger["kind"] == "asset_event" and trigger["asset"] == RETRAIN_URI and trigger["extra"] == request
        records = {(r.version, r.status) for r in registry.deployments("breast_cancer")}
        assert {(1, "built"), (2, "built"), (2, "serving")} <= records, (records, server_log[-3000:])
    history = subprocess.run(
        [sys.executable, "-m", "mlops_declare", "registry", "history", "breast_cancer"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert history.returncode == 0, history.stderr[-3000:]
    lines = [line for line in history.stdout.splitlines() if " promoted " in line]
    moves = [line.split() for line in lines]
    assert [(fields[fields.index("promoted") + 1], fields[fields.index("promoted") + 2]) for fields in moves] == [
        ("1", "staging"),
        ("1", "production"),
        ("2", "staging"),
        ("2", "production"),
    ], history.stdout
    cause = f"retrain on drift: monitoring check {act['check_id']} of breast_cancer:1"
    assert cause in lines[-1] and cause in lines[-2] and cause not in lines[0], history.stdout
