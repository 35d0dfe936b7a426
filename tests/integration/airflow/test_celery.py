"""The training DAG under the CeleryExecutor: Redis broker, PostgreSQL metadata database, two workers
(one on the `training` queue, as GPU workers would be), to a registered and promoted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CI_RUN_STARTS, ci_dependency_missing, require_ci_module
from tests.integration.airflow.harness import airflow_cluster, compile_project, redis_available
from tests.integration.airflow.test_loop import open_registry, step_result


@pytest.mark.slow
def test_training_dag_runs_on_two_celery_workers(project: Path, tmp_path: Path) -> None:
    require_ci_module("airflow.providers.celery", "apache-airflow-providers-celery (also the `celery` extra)")
    if not redis_available():
        ci_dependency_missing("Redis is not answering on 127.0.0.1:6379", CI_RUN_STARTS)
    compile_project(project, "orchestration.task_runner=celery", "orchestration.training_queue=training")
    workers = (("worker-default", "default"), ("worker-training", "training"))
    with airflow_cluster(tmp_path, project / "dags", "CeleryExecutor", workers) as cluster:
        cluster.wait_for_dag("example_training")
        triggered = cluster.cli(
            "dags", "trigger", "example_training", "--conf", json.dumps({"requested_by": "celery test"})
        )
        assert triggered.returncode == 0, triggered.stderr[-3000:]
        run_id, state = cluster.finished_run("example_training", "manual", timeout=1200)
        tasks = cluster.task_states("example_training", run_id)
        assert state == "success", f"{tasks}\n{cluster.logs()}"
        queues = dict(
            cluster.query(
                "select task_id, queue from task_instance where dag_id = 'example_training' and run_id = %s", run_id
            )
        )
    assert queues["train"] == "training" and queues["register"] == "default"
    # Only worker-training listens on `training`: train ran there, the other tasks on worker-default.
    registered = step_result(project, run_id, "register")
    promoted = step_result(project, run_id, "promote")
    assert promoted["blessed"] is True and promoted["promoted"] == ["staging"]
    with open_registry(project) as registry:
        assert [version.version for version in registry.list_versions("breast_cancer")] == [registered["version"]]
        assert registry.labels("breast_cancer")["staging"] == (registered["version"],)
        assert registry.resolve(registered["ref"]).lineage.extra["trigger"]["extra"] == {"requested_by": "celery test"}
