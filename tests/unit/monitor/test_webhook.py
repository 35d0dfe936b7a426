"""The one webhook poster (mlops_declare/webhook.py) against a real HTTP server on loopback: it POSTs
JSON, retries, never raises, and never shows more of the URL than scheme://host:port."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from mlops_declare.config.monitoring import WebhookAlert
from mlops_declare.monitor.actions import post_webhook
from mlops_declare.webhook import endpoint_of, post_json

SECRETS = ("hunter2", "s3cret-token", "alice")


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    failures_left: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Receiver.received.append(
            {
                "path": self.path,
                "body": body,
                "content_type": self.headers["Content-Type"],
                "authorization": self.headers["Authorization"],
            }
        )
        failing = _Receiver.failures_left > 0
        _Receiver.failures_left -= 1
        self.send_response(503 if failing else 204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    _Receiver.received.clear()
    _Receiver.failures_left = 0
    httpd = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _shows_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} shown in {text!r}"


def test_posts_json_and_reports_only_scheme_host_and_port(server: int, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://alice:hunter2@127.0.0.1:{server}/hooks/s3cret-token?key=s3cret-token"
    outcome = post_json(url, {"text": "drift", "n": 3}, timeout_s=5.0)
    assert outcome == {"ok": True, "endpoint": f"http://127.0.0.1:{server}", "attempts": 1, "status": 204}
    (request,) = _Receiver.received
    assert request["body"] == {"text": "drift", "n": 3} and request["content_type"] == "application/json"
    assert request["path"] == "/hooks/s3cret-token?key=s3cret-token"
    # The URL's user and password travel as HTTP Basic authentication, never in the request line.
    assert request["authorization"] == "Basic " + base64.b64encode(b"alice:hunter2").decode("ascii")
    _shows_no_secret(json.dumps(outcome), caplog.text)


def test_retries_with_backoff_then_succeeds(server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlops_declare.webhook.RETRY_BASE_S", 0.01)
    _Receiver.failures_left = 2
    outcome = post_json(f"http://127.0.0.1:{server}/hook", {"a": 1}, timeout_s=5.0, retries=3)
    assert outcome["ok"] is True and outcome["attempts"] == 3 and len(_Receiver.received) == 3


def test_a_failure_is_logged_and_returned_never_raised(
    server: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("mlops_declare.webhook.RETRY_BASE_S", 0.01)
    _Receiver.failures_left = 10
    refused = post_json(f"http://u:hunter2@127.0.0.1:{server}/s3cret-token", {}, timeout_s=5.0, retries=1)
    assert refused == {
        "ok": False,
        "endpoint": f"http://127.0.0.1:{server}",
        "attempts": 2,
        "status": 503,
        "error": "HTTP 503",
    }
    port = _closed_port()
    with caplog.at_level(logging.ERROR, logger="mlops_declare.webhook"):
        dead = post_json(
            f"http://alice:hunter2@127.0.0.1:{port}/hooks/s3cret-token", {}, timeout_s=1.0, retries=2, purpose="ping"
        )
    assert dead["ok"] is False and dead["attempts"] == 3 and dead["status"] is None and dead["error"]
    assert f"ping to http://127.0.0.1:{port} failed after 3 attempt(s)" in caplog.text
    _shows_no_secret(json.dumps(refused), json.dumps(dead), caplog.text)


def test_a_malformed_url_fails_without_echoing_it(caplog: pytest.LogCaptureFixture) -> None:
    for url in ("http://alice:hunter2@127.0.0.1:notaport/s3cret-token", "ftp2://alice:hunter2@host/s3cret-token"):
        outcome = post_json(url, {}, timeout_s=1.0)
        assert outcome["ok"] is False and outcome["attempts"] == 1
        _shows_no_secret(json.dumps(outcome), caplog.text)


def test_endpoint_of_keeps_only_scheme_host_and_port() -> None:
    assert endpoint_of("https://user:pw@Hooks.Example.com/services/T0/B0/xyz?token=abc") == "https://hooks.example.com"
    assert endpoint_of("http://[::1]:8080/hook") == "http://[::1]:8080"
    assert endpoint_of("hooks.example.com/path") == "<URL without a scheme>"


def test_a_monitoring_webhook_alert_posts_through_it(server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlops_declare.webhook.RETRY_BASE_S", 0.01)
    alert = WebhookAlert(kind="webhook", url=f"http://127.0.0.1:{server}/hook?token=s3cret-token", retries=0)
    outcome = post_webhook(alert, {"text": "mlops-declare monitor: drift"})
    assert outcome == {
        "kind": "webhook",
        "ok": True,
        "endpoint": f"http://127.0.0.1:{server}",
        "attempts": 1,
        "status": 204,
    }
    assert _Receiver.received[0]["body"] == {"text": "mlops-declare monitor: drift"}
