"""A replica runs from its spec alone: addresses resolved at start against its project root, secrets in memory,
no database created where the registry is not; the bento build refuses a service folder the plan did not make."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mlops_declare.compiler import compile_outputs
from mlops_declare.config import load_config
from mlops_declare.contracts.environment import PROJECT_ROOT, SERVE_CACHE
from mlops_declare.contracts.plan import PLAN_FILE, PlanError
from mlops_declare.contracts.service import ServiceSpec
from mlops_declare.serve.deployment import registry_config, resolve_deployment
from mlops_declare.serve.loading import BUNDLED_PACKAGE, ServingError


@pytest.fixture(scope="module")
def compiled() -> tuple[Any, dict[str, str]]:
    return compile_outputs(load_config("conf", []))


@pytest.fixture
def spec(compiled: tuple[Any, dict[str, str]]) -> ServiceSpec:
    return compiled[0].service  # type: ignore[no-any-return]


def with_registry(spec: ServiceSpec, **settings: Any) -> ServiceSpec:
    return spec.model_copy(update={"registry": {**spec.registry, **settings}})


def test_relative_addresses_resolve_against_the_deployment_project_root(spec: ServiceSpec, tmp_path: Path) -> None:
    here = tmp_path / "bento" / "src"
    here.mkdir(parents=True)
    environment = {PROJECT_ROOT: str(tmp_path / "deployed"), SERVE_CACHE: str(tmp_path / "cache")}
    deployment = resolve_deployment(spec, here, {}, environment)
    assert deployment.project_root == (tmp_path / "deployed").resolve()
    assert deployment.inference_log_dir == deployment.project_root / ".mlops" / "inferences"
    assert deployment.cache_dir == tmp_path / "cache"
    assert (deployment.reference, deployment.bundled) == (spec.model, None)
    assert spec.registry["store_url"] == "sqlite:///.mlops/registry.db"  # the spec keeps the address as written


def test_the_project_root_is_the_project_above_its_service_folder_else_the_working_directory(
    spec: ServiceSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "service").mkdir(parents=True)
    (project / PLAN_FILE).write_text(json.dumps({"project": spec.project}))
    assert resolve_deployment(spec, project / "service", {}, {}).project_root == project.resolve()
    (project / PLAN_FILE).write_text(json.dumps({"project": "another"}))
    monkeypatch.chdir(tmp_path)
    assert resolve_deployment(spec, project / "service", {}, {}).project_root == tmp_path.resolve()


def test_a_bento_follows_the_reference_and_serves_the_version_of_its_build_arguments(
    spec: ServiceSpec, tmp_path: Path
) -> None:
    (tmp_path / BUNDLED_PACKAGE).mkdir()
    arguments = {"model": "breast_cancer:3", "reference": "breast_cancer:3"}
    deployment = resolve_deployment(spec, tmp_path, arguments, {})
    assert (deployment.reference, deployment.bundled) == ("breast_cancer:3", ("breast_cancer", 3))
    assert deployment.bundle_dir == (tmp_path / BUNDLED_PACKAGE).resolve()


def test_secrets_resolve_in_memory_and_a_missing_one_is_named_not_shown(
    spec: ServiceSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = with_registry(spec, store_url="postgresql+psycopg://u:${oc.env:REGISTRY_TEST_PASSWORD}@db/registry")
    monkeypatch.setenv("REGISTRY_TEST_PASSWORD", "pw-not-a-secret")
    deployment = resolve_deployment(secret, tmp_path, {}, {})
    assert registry_config(deployment).store_url == "postgresql+psycopg://u:pw-not-a-secret@db/registry"
    assert "${oc.env:REGISTRY_TEST_PASSWORD}" in secret.registry["store_url"]
    monkeypatch.delenv("REGISTRY_TEST_PASSWORD")
    with pytest.raises(ServingError, match="REGISTRY_TEST_PASSWORD"):
        registry_config(deployment)


def test_a_replica_without_its_registry_creates_no_database_and_skips_its_records(
    spec: ServiceSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlops_declare.serve.follower import Follower
    from mlops_declare.serve.loading import ServedVersion
    from mlops_declare.serve.metrics import serving_metrics

    deployment = resolve_deployment(spec, tmp_path, {}, {PROJECT_ROOT: str(tmp_path)})
    follower = Follower(spec, deployment, serving_metrics())
    with pytest.raises(Exception, match="does not exist"):
        follower.poll()
    served = ServedVersion("breast_cancer", 1, None, None, ["0", "1"], "binary", {}, [])
    with caplog.at_level(logging.WARNING, logger="mlops_declare.serve"):
        follower.install("primary", served, record=True)
        follower.record("breast_cancer:1", "refused")
        follower.stop()
    skipped = [record for record in caplog.records if "deployment records skipped" in record.getMessage()]
    assert len(skipped) == 1  # one line, not one per record
    assert not list(tmp_path.rglob("*.db")) and not (tmp_path / ".mlops").exists()


def test_a_runtime_is_registered_for_the_guard_only_when_activated(spec: ServiceSpec, tmp_path: Path) -> None:
    from mlops_declare.serve import runtime as module

    previous = module.current_runtime()
    try:
        built = module.Runtime(spec, resolve_deployment(spec, tmp_path, {}, {}))
        assert module.current_runtime() is previous
        module.activate(built)
        assert module.current_runtime() is built
    finally:
        module._ACTIVE = previous


def test_the_build_refuses_a_service_folder_the_plan_did_not_make(
    compiled: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    from mlops_declare.serve.bento import committed_service

    plan, files = compiled
    with pytest.raises(PlanError, match="no generated service here; run `mlops-declare compile`"):
        committed_service(plan, tmp_path)
    for path, text in files.items():
        if path.startswith("service/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    assert committed_service(plan, tmp_path) == tmp_path / "service"
    stale, _ = compile_outputs(load_config("conf", ["serving.port=3001"]))
    with pytest.raises(PlanError, match=r"another plan .*\(service: file .*\); run `mlops-declare compile`"):
        committed_service(stale, tmp_path)


def test_the_committed_bentofile_names_what_the_build_context_holds(compiled: tuple[Any, dict[str, str]]) -> None:
    import yaml

    from mlops_declare.contracts.service import BUNDLED_PACKAGE, PACKAGE_SOURCE, REQUIREMENTS_FILE

    plan, files = compiled
    bentofile = yaml.safe_load(files["service/bentofile.yaml"])
    assert bentofile["include"] == ["service.py", f"{BUNDLED_PACKAGE}/**", f"{PACKAGE_SOURCE}/**"]
    assert bentofile["python"] == {"requirements_txt": REQUIREMENTS_FILE, "lock_packages": False}
    assert bentofile["labels"]["service_fingerprint"] == plan.service.fingerprint
    assert f"SERVICE_FINGERPRINT = {plan.service.fingerprint!r}" in files["service/service.py"]
    assert plan.config_fingerprint not in files["service/bentofile.yaml"] + files["service/service.py"]


def test_the_generated_service_holds_a_secret_as_its_reference_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_TEST_PASSWORD", "pw-not-a-secret")
    reference = "postgresql+psycopg://u:${oc.env:REGISTRY_TEST_PASSWORD}@db/registry"
    plan, files = compile_outputs(load_config("conf", [f"registry.store_url={reference}"]))
    assert plan.service.registry["store_url"] == reference
    generated = files["service/service.py"] + files["service/bentofile.yaml"]
    assert reference in generated and "pw-not-a-secret" not in generated
