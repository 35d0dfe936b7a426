"""Bentos: built from the committed service folder into the project's store, holding no path of the machine that
built them, served from elsewhere without a project (and without creating a registry); deploy tells the truth."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.serve.conftest import free_port, run_cli, start

pytestmark = pytest.mark.slow


def project_copy(source: Path, target: Path) -> Path:
    """conf/ and the registry (database + artefacts) of `source`, nothing it built or served."""
    shutil.copytree(source / "conf", target / "conf")
    shutil.copytree(
        source / ".mlops", target / ".mlops", ignore=shutil.ignore_patterns("runs", "inferences", "serve", "bentos")
    )
    return target


def test_a_bento_built_here_serves_elsewhere_without_a_project_and_creates_no_registry(
    served_project: Path, tmp_path: Path, bentoml_home: Path, sample_records: list[dict[str, float]]
) -> None:
    import yaml

    copy = project_copy(served_project, tmp_path / "copy")
    run_cli(copy, "compile")
    built = json.loads(run_cli(copy, "build", "breast_cancer:1", "--json").stdout)
    bento = Path(built["path"])
    assert built["version"] == 1 and built["model"] == "breast_cancer:1" and built["newly_built"]
    assert bento.is_relative_to(copy / ".mlops" / "bentos" / "bentos")  # the project's store, not ~/bentoml
    assert not list(bentoml_home.rglob("bento.yaml"))
    assert (bento / "env" / "docker" / "Dockerfile").is_file()
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "torch==" in requirements and "bentoml==" in requirements and "hydra" not in requirements
    # The committed bentofile, with the model version as labels and build arguments.
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    facts = {"model": "breast_cancer:1", "reference": "breast_cancer:1"}
    assert info["args"] == facts and facts.items() <= info["labels"].items()
    # What the committed bentofile includes (BentoML adds the bentofile itself).
    contents = sorted(path.name for path in (bento / "src").iterdir())
    assert contents == ["bentofile.yaml", "mlops_declare", "model_package", "service.py"]
    assert not list((bento / "src").rglob("runtime.json"))
    for path in bento.rglob("*"):  # no path of the machine (or the project) that built it
        if path.is_file():
            content = path.read_bytes()
            assert str(tmp_path).encode() not in content and str(served_project).encode() not in content, path
    again = json.loads(run_cli(copy, "build", "breast_cancer:1", "--json").stdout)
    assert (again["tag"], again["newly_built"]) == (built["tag"], False)

    moved = tmp_path / "elsewhere" / "bento"
    shutil.copytree(bento, moved)
    shutil.rmtree(copy)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    port = free_port()
    server = start(
        [sys.executable, "-m", "bentoml", "serve", str(moved), "--port", str(port)],
        workdir,
        port,
        tmp_path / "bento.log",
        env={"MLOPS_DECLARE_SERVE_CACHE": str(tmp_path / "cache")},
    )
    try:
        with server.client() as client:
            answer = client.post("/predict", json={"records": sample_records[:2]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == 1
            metadata = client.get("/metadata").json()
            assert (metadata["reference"], metadata["version"]) == ("breast_cancer:1", 1)
    finally:
        log = server.stop()
    assert log.count("deployment records skipped") == 1, log[-3000:]
    assert not list(tmp_path.rglob("registry.db")) and not copy.exists(), list(tmp_path.rglob("registry.db"))


def test_deploy_reports_the_holder_when_the_candidate_only_entered_staging(
    served_project: Path, tmp_path: Path
) -> None:
    from mlops_declare.config import load_snapshot
    from mlops_declare.contracts.plan import PLAN_FILE, read_plan
    from mlops_declare.contracts.results import PromotionResult
    from mlops_declare.registry import open_registry
    from mlops_declare.steps import step_context
    from mlops_declare.steps.deploy import deploy

    copy = project_copy(served_project, tmp_path / "copy")
    run_cli(copy, "compile")  # the service follows breast_cancer@production, held by version 1
    plan = read_plan(copy / PLAN_FILE)
    loaded = load_snapshot(plan.config)
    context = step_context(plan, loaded, copy, "deploy-test", "2026-01-01")
    staged = PromotionResult(ref="breast_cancer:2", blessed=True, promoted=("staging",))

    first = deploy(context, staged)
    assert not first.deployed and first.serving_version == 1 and first.rebuilt
    assert first.reason is not None and "breast_cancer@production is still breast_cancer:1" in first.reason
    assert first.path is not None and first.path.startswith(".mlops/bentos/")
    second = deploy(context, staged)
    assert (second.deployed, second.rebuilt, second.tag) == (False, False, first.tag)
    assert second.reason is not None and "was already built" in second.reason
    held = deploy(context, PromotionResult(ref="breast_cancer:1", blessed=True, promoted=("production",)))
    assert held.deployed and held.tag == first.tag and held.event["model"] == "breast_cancer:1"
    with open_registry(loaded.config.registry, copy, read_only=True) as registry:
        built = [r for r in registry.deployments("breast_cancer") if r.target == f"bento:{first.tag}"]
    assert [r.status for r in built] == ["built"]  # one record per bento, however often deploy runs


def test_deploy_refuses_a_service_folder_compiled_from_another_plan(served_project: Path, tmp_path: Path) -> None:
    from mlops_declare.config import load_snapshot
    from mlops_declare.contracts.plan import PLAN_FILE, PlanError, read_plan
    from mlops_declare.contracts.results import PromotionResult
    from mlops_declare.steps import step_context
    from mlops_declare.steps.deploy import deploy

    copy = project_copy(served_project, tmp_path / "copy")
    run_cli(copy, "compile", "serving.port=3999")
    plan = read_plan(copy / PLAN_FILE)
    run_cli(copy, "compile")  # the committed service/ no longer matches that plan
    context = step_context(plan, load_snapshot(plan.config), copy, "stale", "2026-01-01")
    with pytest.raises(PlanError, match=r"service\.py was generated from another plan .*run `mlops-declare compile`"):
        deploy(context, PromotionResult(ref="breast_cancer:1", blessed=True))
    build = run_cli_failing(copy, "build", "serving.port=3999")
    assert "mlops-declare compile serving.port=3999" in build


def run_cli_failing(root: Path, *args: str) -> str:
    import subprocess

    from tests.integration.serve.conftest import CLI

    result = subprocess.run([*CLI, *args], cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stderr
