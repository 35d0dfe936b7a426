"""Live version swap: promote while load runs -> the service follows with zero failed requests; a version
that fails verification is refused and the old one keeps serving. Runs after test_service (it moves production)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.integration.serve.conftest import API_KEY, Server, run_cli

pytestmark = pytest.mark.slow
KEY = {"X-API-Key": API_KEY}


def wait_for_version(server: Server, version: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with server.client(**KEY) as client:
        while time.monotonic() < deadline:
            if client.get("/metadata").json().get("version") == version:
                return
            time.sleep(0.2)
    raise AssertionError(f"the service never served version {version}")


def test_promotion_under_load_swaps_with_no_failed_request(
    main_server: Server, served_project: Path, sample_records: list[dict[str, float]]
) -> None:
    answers: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def load() -> None:
        with main_server.client(**KEY) as client:
            while not stop.is_set():
                response = client.post("/predict", json={"records": sample_records[:4]})
                answers.append((response.status_code, response.json().get("version")))

    workers = [threading.Thread(target=load) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1)
        run_cli(served_project, "registry", "promote", "breast_cancer:2", "--stage", "production")
        wait_for_version(main_server, 2)
        time.sleep(1)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    assert answers and all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    versions = [version for _, version in answers]
    assert versions[0] == 1 and versions[-1] == 2
    with main_server.client() as client:
        assert 'mlops_serving_model_version{model="breast_cancer",variant="primary"} 2.0' in client.get("/metrics").text


def test_a_version_failing_verification_is_refused(main_server: Server, served_project: Path) -> None:
    from mlops_declare.config import load_config
    from mlops_declare.registry import open_registry

    loaded = load_config(served_project / "conf")
    with open_registry(loaded.config.registry, served_project, read_only=False) as registry:
        package = registry.load("breast_cancer:2", served_project / "tampered")
        weights = package / "weights.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF  # the registry stores these bytes; the package's own sha256 no longer matches
        weights.write_bytes(bytes(data))
        tampered = registry.register("breast_cancer", package)
        registry.promote(tampered.ref, "staging", force=True, reason="test: tampered package")
        registry.promote(tampered.ref, "production", force=True, reason="test: tampered package")
    deadline = time.monotonic() + 30
    refused: list[object] = []
    while time.monotonic() < deadline and not refused:
        time.sleep(0.5)
        with open_registry(loaded.config.registry, served_project, read_only=True) as registry:
            records = registry.deployments("breast_cancer")
        refused = [r for r in records if r.version == tampered.version and r.status == "refused"]
    assert refused, records
    with main_server.client(**KEY) as client:
        assert client.get("/metadata").json()["version"] == 2
        assert client.post("/predict", json={"records": [{}]}).json()["version"] == 2
    served = {(r.version, r.status) for r in records if r.target.startswith("service:predictor@")}
    assert {(1, "serving"), (2, "serving")} <= served
    assert run_cli(served_project, "registry", "deployments", "breast_cancer").returncode == 0
