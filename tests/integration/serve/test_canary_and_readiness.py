"""Canary split within a binomial tolerance; a stage nobody holds names the promote command; /readyz waits for a holder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.serve.conftest import CLI, free_port, serve

pytestmark = pytest.mark.slow


def test_canary_routes_its_weight_to_the_candidate(
    served_project: Path, sample_records: list[dict[str, float]]
) -> None:
    server = serve(
        served_project,
        "serving.rollout.strategy=canary",
        "serving.rollout.weight=0.5",
        "serving.rollout.candidate=breast_cancer@staging",
        "serving.batching.enabled=false",
        name="canary",
    )
    try:
        with server.client() as client:
            versions = [
                client.post("/predict", json={"records": sample_records[:1]}).json()["version"] for _ in range(200)
            ]
    finally:
        server.stop()
    assert set(versions) == {1, 2}
    # n=200, p=0.5: mean 100, sd 7.1; 4.5 sd either side fails about once in 150 000 runs.
    assert 68 <= versions.count(2) <= 132, versions.count(2)
    # Parts close after 60 s by default; these rows were flushed by the SIGTERM shutdown.
    import duckdb

    log = served_project / ".mlops" / "inferences"
    variants = dict(
        duckdb.sql(
            f"select variant, count(*) from read_parquet('{log}/*/*.parquet') where variant in ('canary') "
            "or (variant = 'primary' and request_id not like 'logged-%' and request_id not like 'same-path-%') group by variant"
        ).fetchall()
    )
    assert variants.get("canary") == versions.count(2)


def test_serving_a_stage_nobody_holds_names_the_promote_command(served_project: Path) -> None:
    for label, command in (("champion", "registry alias breast_cancer:VERSION --alias champion"),):
        result = subprocess.run(
            [*CLI, "serve", f"breast_cancer@{label}"], cwd=served_project, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2
        assert f"holds '{label}'" in result.stderr and f"mlops-declare {command}" in result.stderr


def test_readyz_is_503_until_the_followed_alias_has_a_version(
    served_project: Path, sample_records: list[dict[str, float]]
) -> None:
    import time

    import httpx

    subprocess.run(
        [*CLI, "compile", "serving.model=breast_cancer@challenger", "serving.reload_s=1"],
        cwd=served_project,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "service:Predictor",
        "--working-dir",
        str(served_project / "service"),
        "--port",
        str(port),
    ]
    log = open(served_project / "unready.log", "w")
    process = subprocess.Popen(
        command, cwd=served_project, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/livez", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert httpx.get(f"{url}/readyz").status_code == 503
        early = httpx.post(f"{url}/predict", json={"records": sample_records[:1]})
        assert early.status_code == 503 and early.headers["Retry-After"] and "not ready" in early.text
        subprocess.run(
            [*CLI, "registry", "alias", "breast_cancer:1", "--alias", "challenger"],
            cwd=served_project,
            check=True,
            capture_output=True,
            timeout=120,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and httpx.get(f"{url}/readyz").status_code != 200:
            time.sleep(0.3)
        answer = httpx.post(f"{url}/predict", json={"records": sample_records[:1]})
        assert answer.status_code == 200 and answer.json()["version"] == 1
    finally:
        process.terminate()
        process.wait(60)
