"""The generated BentoML project is a valid BentoML 1.4 service: config, batching and typed inputs as declared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import bentoml, service
from mlops_declare.serve.runtime import current_runtime
svc = service.Predictor
api = svc.apis["predict"]
schema = api.input_spec.model_json_schema()
record = schema["$defs"]["Record"]
print(json.dumps({
    "is_service": isinstance(svc, bentoml.Service),
    "name": svc.name,
    "config": svc.config,
    "apis": sorted(svc.apis),
    "batching": service.SPEC.batching.model_dump(),
    "guarded": [m.__name__ for m, _ in svc.middlewares],
    "fields": sorted(record["properties"]),
    "forbids_extra": record.get("additionalProperties") is False,
    "fingerprint": service.SERVICE_FINGERPRINT == service.SPEC.fingerprint != "",
    "registered_on_import": current_runtime() is not None,
    "project_root": str(service.DEPLOYMENT.project_root),
}))
"""


def probe(directory: Path) -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(directory)], cwd=directory, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_committed_service_loads_in_bentoml() -> None:
    report = probe(REPO_ROOT / "service")
    assert report["is_service"] and report["name"] == "predictor"
    # The concurrency cap (429 + Retry-After) and the batching run in mlops_declare.serve, after auth and limits.
    # Without an OTLP exporter the API routes are left out of BentoML's tracing (serving.tracing).
    assert report["config"] == {
        "resources": {"cpu": "1.0", "memory": "1Gi"},
        "traffic": {"timeout": 10.0},
        "workers": 1,
        "logging": {"access": {"enabled": True}},
        "tracing": {"excluded_urls": ["/(predict|predict_batch|metadata)([?]|$)"]},
    }
    assert report["apis"] == ["metadata", "predict", "predict_batch"] and report["guarded"] == ["ServiceGuard"]
    assert report["batching"] == {"enabled": True, "max_batch_size": 64, "max_latency_ms": 20}
    assert len(report["fields"]) == 30 and "mean radius" in report["fields"]
    assert report["forbids_extra"]
    # The spec carries its fingerprint; importing the module starts nothing and registers no runtime;
    # the committed service folder's project is the repository (the plan above it names its project).
    assert report["fingerprint"] and not report["registered_on_import"]
    assert report["project_root"] == str(REPO_ROOT)


@pytest.mark.slow
def test_digits_service_takes_images() -> None:
    report = probe(REPO_ROOT / "tests" / "golden" / "digits_cnn" / "service")
    assert report["fields"] == ["image"]
