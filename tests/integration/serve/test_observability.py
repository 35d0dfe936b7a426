"""serving.access_log and serving.tracing against a real `bentoml serve` and a real OTLP/HTTP collector on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.serve.conftest import Server, free_port, serve

pytestmark = pytest.mark.slow


class Collector:
    """The OTLP/HTTP trace endpoint: decodes every export request it receives."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, str]]] = []
        self.keys: set[str | None] = set()
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    collector.keys.add(self.headers.get("x-collector-key"))
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                attributes = {item.key: item.value.string_value for item in span.attributes}
                                collector.spans.append((span.name, attributes))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, path: str, timeout: float = 60.0) -> list[tuple[str, dict[str, str]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [span for span in self.spans if path in span[0] or path in span[1].values()]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no span for {path} within {timeout} s; received {self.spans[:20]}")


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.server.shutdown()


def test_spans_reach_the_configured_otlp_collector_and_the_access_log_can_be_off(
    served_project: Path, sample_records: list[dict[str, float]], collector: Collector
) -> None:
    server = serve(
        served_project,
        "serving.model=breast_cancer:1",
        "serving.access_log=false",
        "serving.tracing.exporter=otlp",
        f"serving.tracing.endpoint={collector.url}",
        name="traced",
        env={"OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=test-key-not-a-secret"},
    )
    try:
        with server.client() as client:
            for _ in range(3):
                assert client.post("/predict", json={"records": sample_records[:2]}).status_code == 200
        spans = collector.wait_for("/predict")
        assert any(name.startswith("POST") for name, _ in spans), spans
        assert collector.keys == {"test-key-not-a-secret"}, (
            "the collector's header (OTEL_EXPORTER_OTLP_HEADERS) was not sent"
        )
    finally:
        log = server.stop()
    assert "path=/predict" not in log, "access log lines printed although serving.access_log=false"
    generated = [path.read_text() for path in served_project.glob(".mlops/serve/*/service/service.py")]
    traced = [text for text in generated if collector.url in text]
    assert traced and not any("test-key-not-a-secret" in text for text in generated)


def test_access_log_is_on_by_default(main_server: Server, sample_records: list[dict[str, float]]) -> None:
    from tests.integration.serve.conftest import API_KEY

    with main_server.client(**{"X-API-Key": API_KEY}) as client:
        assert client.post("/predict", json={"records": sample_records[:1]}).status_code == 200
    deadline = time.monotonic() + 30
    while "path=/predict" not in main_server.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, main_server.log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
