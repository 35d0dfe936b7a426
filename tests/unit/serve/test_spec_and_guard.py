"""Compile side of serving (typed ServiceSpec, generated request models, batching check) and the ASGI guard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_declare.compiler import compile_outputs
from mlops_declare.config import load_config
from mlops_declare.serve.middleware import ServiceGuard
from mlops_declare.serve.runtime import columns_to_records


def test_typed_io_from_the_data_schema() -> None:
    plan, files = compile_outputs(load_config("conf", ["data=generated"]))
    features = {feature.name: feature for feature in plan.service.features or ()}
    assert features["colour"].categories == ("red", "green", "blue") and features["colour"].optional
    assert features["x1"].type == "numeric" and features["x1"].optional
    service = files["service/service.py"]
    assert "colour: Literal['red', 'green', 'blue'] | None = Field(default=None" in service
    assert "x1: StrictFloat | None" in service
    assert "plan.config" not in service and "SECRET" not in service
    digits, _ = compile_outputs(load_config("conf", ["experiment=digits_cnn"]))
    image = (digits.service.features or ())[0]
    assert (image.type, image.shape, image.optional) == ("image", (1, 8, 8), False)


def test_batching_longer_than_the_deadline_is_refused() -> None:
    from mlops_declare.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"serving.batching.max_latency_ms: a request may wait 5000 ms .* deadline is 2.0 s"
    ):
        compile_outputs(load_config("conf", ["serving.batching.max_latency_ms=5000", "serving.limits.timeout_s=2"]))


def test_tracing_and_access_log_reach_the_service_decorator() -> None:
    from opentelemetry.util.http import ExcludeList

    from mlops_declare.compiler.bentoml import API_ROUTES_PATTERN

    _, files = compile_outputs(load_config("conf", []))
    # No exporter: spans would go nowhere, so the API routes are not traced (see serving.Tracing).
    assert "logging={'access': {'enabled': True}}, tracing={'excluded_urls': [" in files["service/service.py"]
    excluded = ExcludeList([API_ROUTES_PATTERN])
    for url in ("http://127.0.0.1:3000/predict", "http://h/predict_batch", "http://h/metadata?x=1"):
        assert excluded.url_disabled(url), url
    for url in ("http://h/metrics", "http://h/readyz", "http://h/docs.json", "http://h/predictions"):
        assert not excluded.url_disabled(url), url
    overrides = [
        "serving.access_log=false",
        "serving.tracing.exporter=otlp",
        "serving.tracing.endpoint=http://collector:4318/v1/traces",
        "serving.tracing.sample_rate=0.25",
    ]
    _, files = compile_outputs(load_config("conf", overrides))
    expected = (
        "logging={'access': {'enabled': False}}, tracing={'exporter_type': 'otlp', 'sample_rate': 0.25, "
        "'otlp': {'protocol': 'http', 'endpoint': 'http://collector:4318/v1/traces'}}"
    )
    assert expected in files["service/service.py"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["serving.tracing.exporter=otlp"], r"serving.tracing: .*exporter otlp needs an `endpoint`"),
        (["serving.tracing.endpoint=http://collector:4318"], r"serving.tracing: .*`endpoint` needs `exporter: otlp`"),
        (["serving.tracing.exporter=zipkin"], r"serving.tracing.exporter"),
        (
            ["serving.tracing.exporter=otlp", "serving.tracing.endpoint=collector:4318"],
            r"serving.tracing.endpoint: .*not a collector URL.*http://collector:4318",
        ),
    ],
)
def test_tracing_settings_are_checked(overrides: list[str], message: str) -> None:
    from mlops_declare.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config("conf", overrides)


def test_columns_must_have_equal_lengths() -> None:
    assert columns_to_records({"a": [1, 2], "b": None}, 10) == [{"a": 1, "b": None}, {"a": 2, "b": None}]
    with pytest.raises(ValueError, match="'b' have fewer values"):
        columns_to_records({"a": [1, 2], "b": [1]}, 10)
    with pytest.raises(ValueError, match="max_rows"):
        columns_to_records({"a": [1, 2, 3]}, 2)


class Recorder:
    """A downstream app that records whether it ran and what body it read."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(
    guard: ServiceGuard, headers: dict[str, str], chunks: list[bytes], path: str = "/predict"
) -> tuple[int, dict[str, str], bytes, int]:
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        chunk = chunks[reads - 1] if reads <= len(chunks) else b""
        return {"type": "http.request", "body": chunk, "more_body": reads < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(key.lower().encode(), value.encode()) for key, value in headers.items()],
    }
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    response_headers = {key.decode(): value.decode() for key, value in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:]), reads


@pytest.fixture
def spec() -> Any:
    plan, _ = compile_outputs(
        load_config(
            "conf",
            [
                "serving.limits.max_body_bytes=100",
                "serving.limits.max_concurrency=1",
                "+serving.api_key_env=GUARD_TEST_KEY",
            ],
        )
    )
    return plan.service


def test_guard_limits(spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARD_TEST_KEY", "k1")
    app = Recorder()
    guard = ServiceGuard(app, spec)
    key = {"X-API-Key": "k1", "Content-Type": "application/json"}
    status, _, body, reads = call(guard, {**key, "Content-Length": "5000000"}, [b"x" * 100] * 50000)
    assert (status, reads, app.called) == (413, 0, False)  # refused before reading a byte
    status, _, _, reads = call(guard, key, [b"x" * 60, b"x" * 60, b"x" * 60])
    assert status == 413 and reads == 2 and not app.called  # no Content-Length: stops past the limit
    assert call(guard, {**key, "Content-Type": "application/vnd.bentoml+pickle"}, [b""])[0] == 415
    assert call(guard, {"Content-Type": "application/json"}, [b"{}"])[0] == 401
    assert call(guard, {"Authorization": "Bearer k1", "Content-Type": "application/json"}, [b"{}"])[0] == 200
    guard.in_flight = 1
    status, headers, body, _ = call(guard, key, [b"{}"])
    assert status == 429 and headers["retry-after"] == "1" and "max_concurrency" in json.loads(body)["error"]
    guard.in_flight = 0
    app.body = b""
    status, _, _, _ = call(guard, key, [b'{"a":', b"1}"])
    assert status == 200 and app.body == b'{"a":1}'  # a short chunked body is replayed whole
    assert call(guard, {}, [b""], path="/readyz")[0] == 200  # probes are not guarded


def test_inferred_features_take_their_request_models_from_the_package(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from mlops_declare.data.preprocessing import FORMAT
    from mlops_declare.serve.deployment import resolve_deployment
    from mlops_declare.serve.loading import BUNDLED_PACKAGE
    from mlops_declare.serve.service import request_models

    state = {
        "format": FORMAT,
        "encoded_names": ["a b", "c=x", "c=<unknown>"],
        "input_shape": [3],
        "features": [
            {"name": "a b", "type": "numeric", "fill": 0.0, "offset": 0.0, "scale": 1.0},
            {"name": "c", "type": "categorical", "vocabulary": ["x"]},
        ],
    }
    (tmp_path / BUNDLED_PACKAGE).mkdir()
    (tmp_path / BUNDLED_PACKAGE / "preprocessing.json").write_text(json.dumps(state))
    plan, _ = compile_outputs(load_config("conf", ["data=generated_quality"]))
    assert plan.service.features is None
    record, columns = request_models(plan.service, resolve_deployment(plan.service, tmp_path, environ={}))
    assert record.model_validate({"a b": 1.5}).model_dump(by_alias=True) == {"a b": 1.5, "c": None}
    with pytest.raises(ValidationError, match="a_bz|a bz"):
        record.model_validate({"a bz": 1.5})
    assert columns.model_validate({"c": ["x", None]}).model_dump(by_alias=True) == {"a b": None, "c": ["x", None]}
