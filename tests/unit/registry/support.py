"""Registry test fixtures: real SQLite files and real PostgreSQL schemas, and real model package directories.

Each PostgreSQL test gets its own schema inside a database created for this test session (and
dropped at its end), so concurrent runs by several people never see each other's rows.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_declare.config.registry import RegistryConfig
from mlops_declare.registry import Registry
from tests.conftest import CI_RUN_STARTS, ci_dependency_missing

POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{database}"

CONFIG = RegistryConfig.model_validate(
    {
        "stages": [
            {"name": "staging", "gate": {"thresholds": [{"metric": "accuracy", "split": "test", "min": 0.5}]}},
            {
                "name": "production",
                "requires": "staging",
                "gate": {
                    "first_model": "bless",
                    "thresholds": [{"metric": "accuracy", "split": "test", "min": 0.6, "min_improvement": 0.0}],
                },
            },
        ],
        "aliases": ["champion", "challenger"],
    }
)
"""staging: test accuracy >= 0.5; production: holds staging, >= 0.6 and no worse than the holder."""


@dataclass(frozen=True)
class Backend:
    """Where one test's registry lives: a database URL and an artefact directory."""

    name: str
    store_url: str
    artifact_url: str
    cache_dir: Path

    def open(self, config: RegistryConfig = CONFIG) -> Registry:
        return Registry.open(self.store_url, self.artifact_url, config, cache_dir=self.cache_dir)


def make_package(
    directory: Path, accuracy: float = 0.9, loss: float = 0.2, weights: bytes | None = None, **files: bytes
) -> Path:
    """A model package as training writes it: weights, spec, metrics, config and preprocessing files."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.safetensors").write_bytes(weights if weights is not None else os.urandom(4096))
    _write_json(
        directory / "model_spec.json",
        {"name": "digits", "dataset_fingerprint": "d" * 64, "versions": {"mlops_declare": "0.1.0"}},
    )
    _write_json(
        directory / "metrics.json",
        {"val": {"accuracy": accuracy, "loss": loss}, "test": {"accuracy": accuracy, "loss": loss}},
    )
    _write_json(
        directory / "config.json", {"project": {"name": "digits"}, "registry": {"store_url": "${oc.env:SECRET}"}}
    )
    _write_json(directory / "preprocessing.json", {"scaler": {"mean": [0.0], "std": [1.0]}})
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return directory


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own for this test session; dropped at the end."""
    import psycopg

    name = f"registry_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        ci_dependency_missing(
            f"PostgreSQL at 127.0.0.1:5432 is needed for tests marked postgres (or deselect with -m 'not postgres'): {exc}",
            CI_RUN_STARTS,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_schema_url(database: str) -> tuple[str, str]:
    """A fresh schema in `database`; returns (schema, URL whose search_path is that schema)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_ADMIN.replace("dbname=test", f"dbname={database}"), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    return schema, POSTGRES_URL.format(database=database) + f"?options=-csearch_path%3D{schema}"


def drop_postgres_schema(database: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN.replace("dbname=test", f"dbname={database}"), autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The same test on a SQLite file and on a PostgreSQL schema of its own."""
    artifacts = str(tmp_path / "artifacts")
    cache = tmp_path / "cache"
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'registry.db'}", artifacts, cache)
        return
    database = request.getfixturevalue("postgres_database")
    schema, url = postgres_schema_url(database)
    try:
        yield Backend("postgres", url, artifacts, cache)
    finally:
        drop_postgres_schema(database, schema)


@pytest.fixture
def registry(backend: Backend) -> Iterator[Registry]:
    opened = backend.open()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def packages(tmp_path: Path) -> Any:
    """`packages(accuracy)` -> a fresh package directory with that test accuracy."""
    counter = iter(range(1_000_000))

    def build(accuracy: float = 0.9, **files: bytes) -> Path:
        return make_package(tmp_path / "packages" / f"p{next(counter)}", accuracy=accuracy, **files)

    return build
