"""`mlops-declare registry upgrade` and `registry deployments` as a user runs them: the installed command, a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_declare.cli import main
from mlops_declare.config import load_config
from mlops_declare.registry import Registry, RegistryError, open_registry, resolve_store_urls
from mlops_declare.registry.database import _alembic_config, head_revision
from tests.unit.registry.support import drop_postgres_schema, make_package, postgres_schema_url

ENTRY_POINT = Path(sys.executable).parent / "mlops-declare"


def run(project: Path, *arguments: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    verb, *rest = arguments
    command = [str(ENTRY_POINT), "registry", verb, *rest, "--config-dir", str(project / "conf"), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=project)


def open_project_registry(project: Path, read_only: bool, extra: tuple[str, ...] = ()) -> Registry:
    config = load_config(project / "conf", list(extra)).config
    return open_registry(config.registry, project, read_only=read_only, cache_dir=project / "cache")


def build_at_previous_revision(project: Path) -> str | None:
    """The example project's SQLite registry at the revision before head (None: empty, when head is the first)."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    config = load_config(project / "conf").config
    with open_registry(config.registry, project, read_only=False):
        pass  # creates the file at head
    url, _artifacts = resolve_store_urls(config.registry, project)
    previous = ScriptDirectory.from_config(_alembic_config()).get_revision(head_revision()).down_revision
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            alembic = _alembic_config()
            alembic.attributes["connection"] = connection
            command.downgrade(alembic, str(previous) if previous else "base")
    finally:
        engine.dispose()
    return str(previous) if previous else None


@pytest.mark.slow
def test_upgrade_lets_a_read_only_open_succeed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous = build_at_previous_revision(project)
    with pytest.raises(RegistryError, match="`mlops-declare registry upgrade`") as caught:
        open_project_registry(project, read_only=True)
    assert (f"revision {previous!r}" if previous else "no registry schema") in str(caught.value)

    upgraded = run(project, "upgrade", "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    report = json.loads(upgraded.stdout)
    assert (report["from"], report["to"], report["changed"]) == (previous, head_revision(), True)
    assert report["database"].endswith("registry.db")

    assert main(["registry", "upgrade", "--config-dir", str(project / "conf")]) == 0
    assert f"schema already at revision {head_revision()}" in capsys.readouterr().out
    with open_project_registry(project, read_only=True) as reader:
        assert reader.list_models() == []


@pytest.mark.slow
def test_deployments_lists_the_records_newest_first(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_project_registry(project, read_only=False) as registry:
        registry.register("breast_cancer", make_package(project / "p1", accuracy=0.95))
        registry.register("breast_cancer", make_package(project / "p2", accuracy=0.96))
        registry.record_deployment("breast_cancer:1", "bento:breast_cancer_service:1-abc", "built", actor="ci")
        registry.record_deployment(
            "breast_cancer:1", "service:breast_cancer_service@10.1.2.3:3000", "serving", actor="replica"
        )
        registry.record_deployment(
            "breast_cancer:2",
            "service:breast_cancer_service@10.1.2.3:3000",
            "refused",
            actor="replica",
            details={"reason": "manifest mismatch"},
        )

    table = run(project, "deployments", "breast_cancer")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["WHEN", "VERSION", "TARGET", "STATUS", "WHO", "DETAILS"]
    assert [line.split()[2:6] for line in lines[1:]] == [
        ["2", "service:breast_cancer_service@10.1.2.3:3000", "refused", "replica"],
        ["1", "service:breast_cancer_service@10.1.2.3:3000", "serving", "replica"],
        ["1", "bento:breast_cancer_service:1-abc", "built", "ci"],
    ]
    assert "reason=manifest mismatch" in lines[1]

    listed = run(project, "deployments", "breast_cancer", "--json", "--limit", "2")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [(r["version"], r["status"], r["details"]) for r in records] == [
        (2, "refused", {"reason": "manifest mismatch"}),
        (1, "serving", {}),
    ]
    assert set(records[0]) == {"name", "version", "target", "status", "actor", "details", "recorded_at"}

    assert main(["registry", "deployments", "breast_cancr", "--config-dir", str(project / "conf")]) == 2
    unknown = capsys.readouterr().err
    assert "no model named 'breast_cancr'" in unknown and "did you mean 'breast_cancer'" in unknown
    assert "Traceback" not in unknown


@pytest.mark.slow
@pytest.mark.postgres
def test_upgrade_and_deployments_against_postgresql(project: Path, postgres_database: str) -> None:
    schema, url = postgres_schema_url(postgres_database)
    extra = ("registry=postgres", f"registry.store_url='{url}'")
    try:
        with pytest.raises(RegistryError, match="has no registry schema.*`mlops-declare registry upgrade`"):
            open_project_registry(project, read_only=True, extra=extra)
        upgraded = run(project, "upgrade", "--json", extra=extra)
        assert upgraded.returncode == 0, upgraded.stderr
        assert json.loads(upgraded.stdout)["to"] == head_revision()
        with open_project_registry(project, read_only=False, extra=extra) as registry:
            registry.register("breast_cancer", make_package(project / "p1", accuracy=0.95))
            registry.record_deployment("breast_cancer:1", "bento:breast_cancer_service:1-abc", "built")
        with open_project_registry(project, read_only=True, extra=extra) as reader:
            assert [d.status for d in reader.deployments("breast_cancer")] == ["built"]
        listed = run(project, "deployments", "breast_cancer", "--json", extra=extra)
        assert listed.returncode == 0, listed.stderr
        assert [r["target"] for r in json.loads(listed.stdout)] == ["bento:breast_cancer_service:1-abc"]
    finally:
        drop_postgres_schema(postgres_database, schema)
