"""Registration, resolution, loading and integrity, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from mlops_declare.registry import (
    BadReference,
    IntegrityError,
    Lineage,
    NotFoundError,
    Registry,
    RegistryError,
)
from mlops_declare.registry.models import ArtifactFile, ModelVersionRow
from tests.unit.registry.support import Backend, make_package


def stored_file(registry: Registry, ref: str, path: str) -> Path:
    version = registry.resolve(ref)
    return Path(registry.store.root) / version.object_key / path


def test_versions_are_monotonic_per_model(registry: Registry, packages: Any) -> None:
    first = registry.register("digits", packages(0.9))
    second = registry.register("digits", packages(0.8))
    other = registry.register("iris", packages(0.7))
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert registry.resolve("digits:latest").version == 2
    registry.delete_version("digits:2", reason="bad run")
    assert registry.register("digits", packages(0.85)).version == 3  # numbers are never reused
    assert [v.version for v in registry.list_versions("digits")] == [1, 3]
    assert [v.version for v in registry.list_versions("digits", include_deleted=True)] == [1, 2, 3]


def test_a_version_records_files_metrics_and_lineage(registry: Registry, packages: Any) -> None:
    package = packages(0.93)
    lineage = Lineage(
        config_fingerprint="f" * 64,
        config={"model": {"name": "digits"}, "registry": {"store_url": "${oc.env:REGISTRY_URL}"}},
        datasets={"test": {"fingerprint": "a" * 64, "uri": "data/digits.parquet"}},
        package_version="0.1.0",
        git_commit="c" * 40,
        parent_version=None,
        training_run_id="run-1",
        airflow_dag_id="example_training",
        airflow_run_id="scheduled__2026-11-26",
    )
    version = registry.register("digits", package, lineage=lineage, actor="alice", description="first")
    assert version.ref == "digits:1"
    assert version.created_by == "alice"
    assert version.metrics == {"val": {"accuracy": 0.93, "loss": 0.2}, "test": {"accuracy": 0.93, "loss": 0.2}}
    assert version.lineage == lineage
    assert {entry.path for entry in version.files} == {
        "config.json",
        "metrics.json",
        "model.safetensors",
        "model_spec.json",
        "preprocessing.json",
    }
    assert version.size_bytes == sum(path.stat().st_size for path in package.iterdir())
    assert registry.history("digits")[0].kind == "registered"


def test_the_same_run_registering_the_same_bytes_gets_its_version_back(registry: Registry, packages: Any) -> None:
    package = packages(0.9)
    first = registry.register("digits", package, lineage=Lineage(training_run_id="run-7"))
    again = registry.register("digits", package, lineage=Lineage(training_run_id="run-7"))
    assert again.version == first.version
    assert registry.register("digits", package, lineage=Lineage(training_run_id="run-8")).version == 2


def test_explicit_metrics_override_metrics_json(registry: Registry, packages: Any) -> None:
    version = registry.register("digits", packages(0.5), metrics={"test": {"accuracy": 0.99}})
    assert version.metrics == {"test": {"accuracy": 0.99}}


@pytest.mark.parametrize(
    ("metrics_text", "message"),
    [
        ("not json", "is not valid JSON"),
        ('["val"]', "expected {split: {metric: number}}"),
        ('{"test": {"accuracy": "high"}}', "test.accuracy = 'high' is not a finite number"),
        ('{"test": {"accuracy": NaN}}', "test.accuracy = nan is not a finite number"),
        ('{"test": 3}', "'test' should map metric names to numbers"),
    ],
)
def test_bad_metrics_are_refused_and_nothing_is_listed(
    registry: Registry, packages: Any, metrics_text: str, message: str
) -> None:
    package = packages()
    (package / "metrics.json").write_text(metrics_text)
    with pytest.raises(RegistryError, match=message):
        registry.register("digits", package)
    with pytest.raises(NotFoundError):
        registry.list_versions("digits")
    assert registry.verify().orphans == ()


def test_a_package_without_metrics_json_is_refused(registry: Registry, packages: Any) -> None:
    package = packages()
    (package / "metrics.json").unlink()
    with pytest.raises(RegistryError, match="metrics.json"):
        registry.register("digits", package)


def test_unknown_names_and_versions_say_what_exists(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    with pytest.raises(NotFoundError, match=r"no model named 'digts'.*models: digits.*did you mean 'digits'"):
        registry.resolve("digts:1")
    with pytest.raises(NotFoundError, match="model 'digits' has no version 9"):
        registry.resolve("digits:9")
    with pytest.raises(NotFoundError, match="no version of 'digits' holds 'production' yet"):
        registry.resolve("digits@production")
    with pytest.raises(NotFoundError, match=r"nothing holds 'prodution'.*did you mean 'production'"):
        registry.resolve("digits@prodution")


def test_a_deleted_version_says_who_deleted_it(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    registry.delete_version("digits:1", actor="bob", reason="leaked test data")
    with pytest.raises(NotFoundError, match="was deleted .by bob at .*: leaked test data"):
        registry.resolve("digits:1")
    with pytest.raises(NotFoundError, match="no live version"):
        registry.resolve("digits:latest")


def test_load_returns_a_verified_copy(registry: Registry, packages: Any, tmp_path: Path) -> None:
    weights = os.urandom(100_000)
    registry.register("digits", make_package(tmp_path / "pkg", weights=weights))
    loaded = registry.load("digits:1")
    assert (loaded / "model.safetensors").read_bytes() == weights
    assert json.loads((loaded / "metrics.json").read_text())["test"]["accuracy"] == 0.9
    assert registry.load("digits:1") == loaded  # an intact cached copy is reused
    (loaded / "model.safetensors").write_bytes(b"tampered cache")
    assert (registry.load("digits:1") / "model.safetensors").read_bytes() == weights  # a bad cache is replaced
    explicit = registry.load("digits:1", tmp_path / "out")
    assert (explicit / "model.safetensors").read_bytes() == weights


def test_load_will_not_overwrite_a_directory_of_other_files(registry: Registry, packages: Any, tmp_path: Path) -> None:
    registry.register("digits", packages())
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(RegistryError, match="holds other files"):
        registry.load("digits:1", target)
    assert (target / "notes.txt").read_text() == "keep me"


def test_one_flipped_byte_fails_verify_and_load(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    registry.register("digits", packages())
    path = stored_file(registry, "digits:1", "model.safetensors")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = registry.verify()
    assert not report.ok
    assert report.checked == 2
    assert [ref for ref, _ in report.problems] == ["digits:1"]
    assert "model.safetensors: sha256" in report.problems[0][1]
    with pytest.raises(IntegrityError, match="digits:1 failed verification.*'model.safetensors'.*does not match"):
        registry.load("digits:1")
    assert registry.load("digits:2").is_dir()  # the intact version still loads


def test_missing_and_unexpected_files_are_reported(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    stored_file(registry, "digits:1", "preprocessing.json").unlink()
    stored_file(registry, "digits:1", "extra.bin").write_bytes(b"x")
    problems = [problem for _, problem in registry.verify().problems]
    assert "preprocessing.json: missing" in problems
    assert "extra.bin: not in the manifest" in problems
    with pytest.raises(IntegrityError, match="'preprocessing.json' of .* is missing"):
        registry.load("digits:1")


def test_a_tampered_manifest_row_is_caught(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    with registry.engine.begin() as connection:
        connection.execute(update(ArtifactFile).where(ArtifactFile.path == "metrics.json").values(sha256="0" * 64))
    with pytest.raises(IntegrityError, match="do not match the recorded manifest digest"):
        registry.load("digits:1")
    assert not registry.verify().ok


@pytest.mark.parametrize("evil", ["../../../outside.txt", "/etc/passwd", "%2e%2e%2foutside"])
def test_an_escaping_path_in_the_database_is_never_followed(
    registry: Registry, packages: Any, tmp_path: Path, evil: str
) -> None:
    registry.register("digits", packages())
    (tmp_path / "outside.txt").write_text("secret")
    with registry.engine.begin() as connection:
        connection.execute(update(ArtifactFile).where(ArtifactFile.path == "metrics.json").values(path=evil))
    with pytest.raises(IntegrityError):
        registry.load("digits:1")
    assert not registry.verify().ok


def test_an_escaping_object_key_in_the_database_is_refused(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    with registry.engine.begin() as connection:
        connection.execute(update(ModelVersionRow).values(object_key="objects/../../etc"))
    with pytest.raises(BadReference, match="not a registry object key"):
        registry.load("digits:1")
    assert "not a registry object key" in registry.verify().problems[0][1]


def test_a_symlink_planted_in_the_store_is_refused(registry: Registry, packages: Any, tmp_path: Path) -> None:
    registry.register("digits", packages())
    outside = make_package(tmp_path / "outside")
    version = registry.resolve("digits:1")
    stored = Path(registry.store.root) / version.object_key
    for child in stored.iterdir():
        child.unlink()
    stored.rmdir()
    stored.symlink_to(outside, target_is_directory=True)
    with pytest.raises(IntegrityError, match="is a symlink; refusing to follow it"):
        registry.load("digits:1")
    assert "symlink" in registry.verify().problems[0][1]


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/b", "%2e%2e", "", "x" * 65, "-lead"])
def test_unsafe_model_names_are_refused_before_anything_is_written(
    registry: Registry, packages: Any, name: str
) -> None:
    with pytest.raises(BadReference, match="is not allowed"):
        registry.register(name, packages())
    assert not any(Path(registry.store.root).rglob("*.json"))


def test_symlinks_inside_a_package_are_refused(registry: Registry, packages: Any, tmp_path: Path) -> None:
    package = packages()
    (tmp_path / "secret.txt").write_text("do not copy")
    (package / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(BadReference, match="'leak.txt' is a symlink"):
        registry.register("digits", package)
    os.unlink(package / "leak.txt")
    (package / "subdir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(BadReference, match="'subdir' is a symlink"):
        registry.register("digits", package)


@pytest.mark.parametrize("file_name", ["%2e%2e%2fescape", ".hidden", "with space.bin"])
def test_unsafe_file_names_inside_a_package_are_refused(registry: Registry, packages: Any, file_name: str) -> None:
    package = packages()
    (package / file_name).write_bytes(b"x")
    with pytest.raises(BadReference, match=f"artefact path {file_name!r}"):
        registry.register("digits", package)


def test_an_empty_or_missing_package_is_refused(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="is not a directory"):
        registry.register("digits", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="holds no files"):
        registry.register("digits", tmp_path / "empty")


def test_gc_removes_orphans_and_deleted_versions_but_keeps_live_ones(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    registry.register("digits", packages())
    registry.delete_version("digits:2")
    orphan = Path(registry.store.root) / "staging" / ("a" * 32)
    orphan.mkdir(parents=True)
    (orphan / "model.safetensors").write_bytes(b"half")
    assert len(registry.verify().orphans) == 2
    kept = registry.gc()  # both are fresh: they might be registrations in progress
    assert kept.removed == () and len(kept.kept_recent) == 2
    deleted_key = _object_key_of_deleted(registry)
    report = registry.gc(min_age_seconds=0)
    assert sorted(report.removed) == sorted([f"staging/{'a' * 32}", deleted_key])
    assert registry.verify().ok and registry.verify().orphans == ()
    assert registry.load("digits:1").is_dir()


def _object_key_of_deleted(registry: Registry) -> str:
    with registry.engine.connect() as connection:
        return str(connection.execute(select(ModelVersionRow.object_key).where(ModelVersionRow.version == 2)).scalar())


def test_fsspec_memory_store(backend: Backend, packages: Any) -> None:
    registry = Registry.open(
        backend.store_url, f"memory://registry-{os.getpid()}-{id(backend)}", cache_dir=backend.cache_dir
    )
    try:
        weights = os.urandom(5000)
        registry.register("digits", make_package(backend.cache_dir.parent / "m", weights=weights))
        assert (registry.load("digits:1") / "model.safetensors").read_bytes() == weights
        assert registry.verify().ok
        with registry.store.fs.open(
            f"{registry.store.root}/{registry.resolve('digits:1').object_key}/metrics.json", "wb"
        ) as stream:
            stream.write(b"{}")
        assert not registry.verify().ok
        with pytest.raises(IntegrityError):
            registry.load("digits:1")
    finally:
        registry.close()


def test_relative_config_paths_resolve_against_the_project_root(tmp_path: Path, packages: Any) -> None:
    from mlops_declare.config.registry import RegistryConfig
    from mlops_declare.registry import open_registry

    config = RegistryConfig(store_url="sqlite:///.mlops/registry.db", artifact_url=".mlops/artifacts")
    with pytest.raises(RegistryError, match="does not exist; a read-only open never creates it"):
        open_registry(config, tmp_path, read_only=True)
    assert not (tmp_path / ".mlops").exists()
    with open_registry(config, tmp_path, read_only=False, cache_dir=tmp_path / "cache") as registry:
        registry.register("digits", packages())
    assert (tmp_path / ".mlops" / "registry.db").is_file()
    assert any((tmp_path / ".mlops" / "artifacts" / "objects" / "digits").iterdir())
    with open_registry(config, tmp_path, read_only=True, cache_dir=tmp_path / "cache") as reader:
        assert reader.read_only and reader.config == config
        assert (reader.load("digits:1") / "model.safetensors").is_file()
    assert any((tmp_path / "cache" / "digits").iterdir())


def test_unsupported_database_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="backend 'mysql' is not supported"):
        Registry.open("mysql://localhost/x", str(tmp_path))
    with pytest.raises(RegistryError, match="is not a database URL"):
        Registry.open("not a url", str(tmp_path))


def test_an_in_memory_sqlite_registry_works(tmp_path: Path, packages: Any) -> None:
    with Registry.open("sqlite://", str(tmp_path / "artifacts"), cache_dir=tmp_path / "cache") as registry:
        registry.register("digits", packages())
        assert registry.resolve("digits:latest").version == 1
        assert registry.verify().ok


def test_a_failed_commit_removes_the_published_files(registry: Registry, packages: Any) -> None:
    from sqlalchemy import text

    refuse = {
        "sqlite": [
            "CREATE TRIGGER refuse BEFORE INSERT ON registry_versions BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON registry_versions FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
    }
    with registry.engine.begin() as connection:
        for statement in refuse[connection.dialect.name]:
            connection.execute(text(statement))
    with pytest.raises(Exception, match="disk full"):
        registry.register("digits", packages())
    assert registry.verify().orphans == ()
    assert not list((Path(registry.store.root) / "objects").rglob("*.json"))


def test_a_model_carries_a_description_and_tags(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    summary = registry.describe_model("digits", description="8x8 digit classifier", tags={"team": "vision"})
    assert (summary.description, summary.tags, summary.latest_version) == (
        "8x8 digit classifier",
        {"team": "vision"},
        1,
    )
    assert registry.describe_model("digits", tags={}).description == "8x8 digit classifier"
    with pytest.raises(RegistryError, match="must map strings to strings"):
        registry.describe_model("digits", tags={"team": 3})  # type: ignore[dict-item]
    with pytest.raises(NotFoundError, match="no model named 'digit'"):
        registry.describe_model("digit", description="x")
