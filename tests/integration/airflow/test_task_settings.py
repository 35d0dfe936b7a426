"""Task settings from config in the generated DAGs: KubernetesPodOperator pods (checked through DagBag,
not run) and the failure webhook (its URL never written into a generated file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import require_ci_module
from tests.integration.airflow.harness import compile_project

POD_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["example_training"]
tasks = {}
for t in dag.tasks:
    tasks[t.task_id] = {
        "type": type(t).__name__,
        "image": getattr(t, "image", None),
        "namespace": getattr(t, "namespace", None),
        "cmds": getattr(t, "cmds", None),
        "arguments": getattr(t, "arguments", None),
        "env": (lambda ev: ev if isinstance(ev, dict) else {e.name: e.value for e in ev})(getattr(t, "env_vars", None) or {}),
        "queue": t.queue,
        "upstream": sorted(t.upstream_task_ids),
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "tasks": tasks}))
"""


def _dagbag(project: Path, tmp_path: Path) -> dict[str, Any]:
    environment = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    result = subprocess.run(
        [sys.executable, "-c", POD_PROBE, str(project / "dags")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_kubernetes_runner_renders_pods_running_the_image(project: Path, tmp_path: Path) -> None:
    require_ci_module(
        "airflow.providers.cncf.kubernetes", "apache-airflow-providers-cncf-kubernetes (also the `kubernetes` extra)"
    )
    compile_project(
        project,
        "orchestration.task_runner=kubernetes",
        "orchestration.kubernetes.image=registry.example/mlops/example:1.0",
        "orchestration.kubernetes.namespace=ml",
    )
    report = _dagbag(project, tmp_path)
    assert report["errors"] == {}
    tasks = report["tasks"]
    train = tasks["train"]
    assert train["type"] == "KubernetesPodOperator"
    assert train["image"] == "registry.example/mlops/example:1.0"
    assert train["namespace"] == "ml"
    assert train["cmds"] == ["python", "-m", "mlops_declare.steps.pod"]
    assert train["arguments"][0] == "train" and "--upstream" in train["arguments"] and "--context" in train["arguments"]
    assert train["env"]["MLOPS_DECLARE_PROJECT_ROOT"] == "/project"
    # The gate still ends the run as "not promoted": deploy waits on a short-circuit reading promote's result.
    assert tasks["promote_gate"]["type"] == "_ShortCircuitDecoratedOperator"
    assert tasks["deploy"]["upstream"] == ["promote_gate"]


def test_kubernetes_runner_needs_an_image(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops_declare", "compile", "orchestration.task_runner=kubernetes"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "kubernetes.image" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append({"path": self.path, "json": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_failure_webhook_is_posted_and_never_rendered(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token-123"
    monkeypatch.setenv("MLOPS_TEST_FAILURE_WEBHOOK", url)
    try:
        compile_project(project, "orchestration.notifications.failure_webhook=${oc.env:MLOPS_TEST_FAILURE_WEBHOOK}")
        generated = (
            "".join(path.read_text() for path in (project / "dags").glob("*.py")) + (project / "plan.json").read_text()
        )
        assert "secret-token-123" not in generated
        assert "on_failure_callback" in (project / "dags" / "example_training.py").read_text()
        # What the generated callback calls (the file's TASK), with the context Airflow gives it.
        from mlops_declare.steps.airflow import notify_failure

        class TaskInstance:
            dag_id, task_id, try_number = "example_training", "train", 3

        task = {"project": "example", "dag_file": str(project / "dags" / "example_training.py")}
        outcome = notify_failure(task, {"ti": TaskInstance(), "run_id": "manual__1", "exception": ValueError("boom")})
    finally:
        server.shutdown()
    assert outcome is not None and outcome["ok"]
    assert "secret-token-123" not in json.dumps(outcome)
    message = _Receiver.received[-1]
    assert message["path"] == "/hooks/secret-token-123"
    assert message["json"]["task_id"] == "train" and message["json"]["error"] == "ValueError: boom"
