"""SIGTERM while load runs: requests the service took are answered, and every answered one is in the inference log."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.serve.conftest import serve

pytestmark = pytest.mark.slow


def test_sigterm_drains_in_flight_requests_and_flushes_the_log(
    served_project: Path, sample_records: list[dict[str, float]]
) -> None:
    import duckdb

    log = served_project / ".mlops" / "inferences"
    server = serve(served_project, "serving.limits.max_concurrency=256", name="drain")
    answered: list[tuple[str, float]] = []  # (request id, when the answer arrived)
    refused: list[str] = []  # never reached a handler: connection refused or closed before a response
    other: list[str] = []
    signalled = threading.Event()
    signal_time: list[float] = []

    def client_loop(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for index in range(10_000):
                if signalled.is_set() and time.monotonic() - signal_time[0] > 5:
                    return
                request_id = f"drain-{worker}-{index}"
                try:
                    response = client.post(
                        "/predict", json={"records": sample_records[:2]}, headers={"X-Request-ID": request_id}
                    )
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                    refused.append(request_id)
                    if signalled.is_set():
                        return
                    continue
                if response.status_code == 200:
                    answered.append((request_id, time.monotonic()))
                else:
                    other.append(f"{request_id}: {response.status_code} {response.text[:200]}")

    workers = [threading.Thread(target=client_loop, args=(worker,)) for worker in range(16)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(answered) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        signal_time.append(time.monotonic())
        signalled.set()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(60)
    finally:
        for worker in workers:
            worker.join(60)
        server.stop()
    assert not other, other[:5]  # no 5xx while shutting down: a request is answered or never taken
    assert len(answered) >= 200
    assert any(arrived > signal_time[0] for _, arrived in answered), "no request was in flight at SIGTERM"
    rows = duckdb.sql(
        f"select request_id from read_parquet('{log}/*/*.parquet', hive_partitioning = true) where variant = 'primary' and request_id like 'drain-%'"
    ).fetchall()
    logged = {row[0] for row in rows}
    ids = {request_id for request_id, _ in answered}
    assert ids <= logged, f"{len(ids - logged)} answered request(s) missing from the inference log"
    assert not logged & set(refused), "a refused request was logged as answered"
    assert not list(log.glob("*/.*"))  # no temporary part left visible
