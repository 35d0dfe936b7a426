"""A real Airflow 3 deployment for tests: PostgreSQL metadata database (fresh per test), scheduler,
DAG processor, API server (task execution API), and either the LocalExecutor or Celery workers on
Redis. Run states are read straight from the metadata database."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CI_RUN_STARTS, ci_dependency_missing

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/{db}"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
PROJECT_OVERRIDES = (
    "trainer.max_epochs=2",
    "trainer.early_stopping=null",
    # Only the events the test sends start runs: no cron run may race them.
    "orchestration.training_schedule=null",
    "orchestration.monitoring_schedule=null",
)


def compile_project(project: Path, *overrides: str) -> None:
    """`mlops-declare compile` in the project copy, with the test's overrides."""
    result = subprocess.run(
        [sys.executable, "-m", "mlops_declare", "compile", *PROJECT_OVERRIDES, *overrides],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


def postgres_available() -> bool:
    try:
        _admin("select 1")
    except Exception:  # any failure means the service is not there
        return False
    return True


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class AirflowCluster:
    """Airflow components as subprocesses of the test, sharing one environment."""

    def __init__(self, home: Path, dags_folder: Path, executor: str = "LocalExecutor") -> None:
        self.home = home
        self.database = f"airflow_test_{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        self.executor = executor
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": POSTGRES.format(database=self.database),
            # psycopg 3 is async too; Airflow would otherwise want asyncpg.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": POSTGRES.format(database=self.database).replace(
                "+psycopg", "+psycopg_async"
            ),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "BENTOML_HOME": str(home / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            "PYTHONUNBUFFERED": "1",
        }
        if executor == "CeleryExecutor":
            redis_db = 9
            self.env |= {
                "AIRFLOW__CELERY__BROKER_URL": REDIS_URL.format(db=redis_db),
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + POSTGRES.format(database=self.database),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            }

    def cli(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AIRFLOW, *arguments], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start_process(self, name: str, *arguments: str) -> None:
        log = (self.home / f"{name}.log").open("wb")
        # Each component that serves task logs gets its own port (Airflow's default 8793 would collide).
        environment = {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        self.processes[name] = subprocess.Popen(
            [AIRFLOW, *arguments], env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, celery_workers: tuple[tuple[str, str], ...] = ()) -> None:
        """Create the database, migrate it and start the components (and Celery workers: (name, queues))."""
        _admin(f'create database "{self.database}"')
        migrated = self.cli("db", "migrate", timeout=600)
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        self.start_process(
            "api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1", "--workers", "1"
        )
        # Tasks report to the execution API: it must answer before the scheduler queues any.
        self.wait_for("the API server", self._api_answers, timeout=300)
        self.start_process("dag-processor", "dag-processor")
        self.start_process("scheduler", "scheduler")
        for name, queues in celery_workers:
            self.start_process(
                name, "celery", "worker", "--queues", queues, "--concurrency", "1", "--celery-hostname", f"{name}@%h"
            )

    def _api_answers(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        try:
            _admin(f'drop database if exists "{self.database}" with (force)')
        except Exception:  # leaving a test database behind must not hide the test's result
            pass

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(POSTGRES.format(database=self.database).replace("+psycopg", "")) as connection:
            return list(connection.execute(sql, parameters).fetchall())

    def runs(self, dag_id: str) -> list[tuple[str, str, str]]:
        """(run_id, run_type, state) of each run of the DAG."""
        return [
            (str(r[0]), str(r[1]), str(r[2]))
            for r in self.query("select run_id, run_type, state from dag_run where dag_id = %s order by id", dag_id)
        ]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int]]:
        rows = self.query(
            "select task_id, state, try_number from task_instance where dag_id = %s and run_id = %s", dag_id, run_id
        )
        return {str(r[0]): (r[1], int(r[2] or 0)) for r in rows}

    def wait_for(self, what: str, condition: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            for name, process in self.processes.items():
                if process.poll() is not None:
                    pytest.fail(
                        f"airflow {name} exited ({process.returncode}) while waiting for {what}:\n{self.logs()}"
                    )
            time.sleep(2)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.logs()}")

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Until the DAG processor has parsed and stored the DAG (it cannot be triggered before)."""
        self.wait_for(
            f"DAG {dag_id} to be parsed", lambda: self.query("select 1 from dag where dag_id = %s", dag_id), timeout
        )

    def finished_run(self, dag_id: str, run_type: str, timeout: float) -> tuple[str, str]:
        """(run_id, state) of the first run of that type once it has finished."""

        def finished() -> tuple[str, str] | None:
            for run_id, kind, state in self.runs(dag_id):
                if kind == run_type and state in ("success", "failed"):
                    return run_id, state
            return None

        return self.wait_for(f"a finished {run_type} run of {dag_id}", finished, timeout)  # type: ignore[no-any-return]

    def logs(self, characters: int = 3000) -> str:
        parts = []
        for path in sorted(self.home.glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-characters:]}")
        for path in sorted((self.home / "logs").rglob("*.log"))[-4:] if (self.home / "logs").is_dir() else []:
            parts.append(f"--- {path.relative_to(self.home)} ---\n{path.read_text(errors='replace')[-characters:]}")
        return "\n".join(parts)

    def task_log(self, dag_id: str, task_id: str) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in sorted((self.home / "logs").rglob("*.log"))
            if f"dag_id={dag_id}" in str(path) and f"task_id={task_id}" in str(path)
        )


@contextmanager
def airflow_cluster(
    tmp_path: Path, dags_folder: Path, executor: str = "LocalExecutor", celery_workers: tuple[tuple[str, str], ...] = ()
) -> Iterator[AirflowCluster]:
    if not postgres_available():
        ci_dependency_missing("PostgreSQL is not answering on 127.0.0.1:5432", CI_RUN_STARTS)
    cluster = AirflowCluster(tmp_path / "airflow", dags_folder, executor)
    cluster.home.mkdir(parents=True, exist_ok=True)
    try:
        cluster.start(celery_workers)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.home / "bentoml", ignore_errors=True)
