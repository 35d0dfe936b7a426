"""Serving fixtures: one trained project per session (production=v1, staging=v2) and real `bentoml serve` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT

CLI = [sys.executable, "-m", "mlops_declare"]
# The run ends with `deploy` (a bento of the served label); the staging holder exists after every run.
SERVED = ["serving.model=breast_cancer@staging"]
TRAIN = ["trainer.max_epochs=3", *SERVED]
API_KEY = "test-key-not-a-secret"


def run_cli(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], cwd=root, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A `bentoml serve` process on loopback."""

    process: subprocess.Popen[str]
    url: str
    log: Path

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.log.read_text(errors="replace")


def start(command: list[str], cwd: Path, port: int, log: Path, env: dict[str, str] | None = None) -> Server:
    stream = open(log, "w")
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        command, cwd=cwd, stdout=stream, stderr=subprocess.STDOUT, text=True, env=environment, start_new_session=True
    )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise AssertionError(f"server never became ready:\n{log.read_text(errors='replace')[-4000:]}")


def serve(root: Path, *overrides: str, env: dict[str, str] | None = None, name: str = "server") -> Server:
    port = free_port()
    command = [*CLI, "serve", "--port", str(port), *overrides]
    return start(command, root, port, root / f"{name}.log", env)


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BentoML's global home for these tests: bentos must not land here but in the project's store."""
    home = tmp_path_factory.mktemp("bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def served_project(tmp_path_factory: pytest.TempPathFactory, bentoml_home: Path) -> Path:
    """The example project trained twice: breast_cancer:1 holds production, breast_cancer:2 staging."""
    root = tmp_path_factory.mktemp("serving") / "project"
    root.mkdir()
    shutil.copytree(REPO_ROOT / "conf", root / "conf")
    os.environ["MLOPS_DECLARE_SERVE_CACHE"] = str(root / "serve-cache")
    # deploy builds the committed service folder, so it is compiled with the runs' serving settings.
    run_cli(root, "compile", *SERVED)
    run_cli(root, "run", *TRAIN)
    run_cli(root, "registry", "promote", "breast_cancer:1", "--stage", "production")
    run_cli(root, "run", *TRAIN, "trainer.seed=7")
    labels = json.loads(run_cli(root, "registry", "show", "breast_cancer:2", "--json").stdout)
    assert "staging" in labels["stages"], labels
    return root


@pytest.fixture(scope="session")
def sample_records() -> list[dict[str, float]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return [dict(zip(data.feature_names, map(float, row), strict=True)) for row in data.data[:40]]


@pytest.fixture(scope="session")
def main_server(served_project: Path) -> Iterator[Server]:
    """Production v1 answering, staging v2 shadowing; API key on; small limits; 1 s reload and log rotation."""
    server = serve(
        served_project,
        "serving.reload_s=1",
        "serving.limits.max_rows=16",
        "serving.limits.max_concurrency=4",
        "serving.inference_log.part_max_seconds=1",
        "serving.rollout.strategy=shadow",
        "serving.rollout.candidate=breast_cancer@staging",
        "+serving.api_key_env=SERVING_TEST_KEY",
        env={"SERVING_TEST_KEY": API_KEY},
        name="main",
    )
    yield server
    server.stop()
