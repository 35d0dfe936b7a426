"""Canary split within a binomial tolerance; a built bento (Dockerfile generated) answers without the project folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.serve.conftest import CLI, free_port, serve, start

pytestmark = pytest.mark.slow


def test_canary_routes_its_weight_to_the_candidate(served_project: Path, sample_records: list[dict[str, float]]) -> None:
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
            versions = [client.post("/predict", json={"records": sample_records[:1]}).json()["version"] for _ in range(200)]
    finally:
        server.stop()
    assert set(versions) == {1, 2}
    # n=200, p=0.5: mean 100, sd 7.1; 4.5 sd either side fails about once in 150 000 runs.
    assert 68 <= versions.count(2) <= 132, versions.count(2)


def test_built_bento_serves_without_the_project_folder(served_project: Path, tmp_path: Path, sample_records: list[dict[str, float]]) -> None:
    import json

    copy = tmp_path / "copy"
    shutil.copytree(served_project / "conf", copy / "conf")
    shutil.copytree(served_project / ".mlops", copy / ".mlops", ignore=shutil.ignore_patterns("runs", "inferences", "serve"))
    result = subprocess.run([*CLI, "build", "breast_cancer:1", "--json"], cwd=copy, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    built = json.loads(result.stdout)
    bento = Path(built["path"])
    assert built["version"] == 1 and (bento / "env" / "docker" / "Dockerfile").is_file()
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "torch==" in requirements and "bentoml==" in requirements
    assert not any("SECRET" in path.read_text(errors="ignore") for path in bento.rglob("runtime.json"))
    shutil.rmtree(copy)
    port = free_port()
    server = start([sys.executable, "-m", "bentoml", "serve", built["tag"], "--port", str(port)], tmp_path, port, tmp_path / "bento.log")
    try:
        with server.client() as client:
            answer = client.post("/predict", json={"records": sample_records[:2]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == 1
    finally:
        server.stop()


def test_serving_a_stage_nobody_holds_names_the_promote_command(served_project: Path) -> None:
    for label, command in (("champion", "registry alias breast_cancer:VERSION --alias champion"),):
        result = subprocess.run([*CLI, "serve", f"breast_cancer@{label}"], cwd=served_project, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert f"holds '{label}'" in result.stderr and f"mlops-declare {command}" in result.stderr
