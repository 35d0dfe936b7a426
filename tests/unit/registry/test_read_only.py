"""A read-only registry (serving replicas, monitors) never migrates or writes, and says what to run when the schema is old."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from mlops_declare.registry import Registry, RegistryError
from mlops_declare.registry.database import (
    UPGRADE_COMMAND,
    _alembic_config,
    create_registry_engine,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from mlops_declare.registry.models import VERSION_TABLE, Event
from tests.unit.registry.support import CONFIG, Backend


def open_read_only(backend: Backend) -> Registry:
    return Registry.open(backend.store_url, backend.artifact_url, CONFIG, backend.cache_dir, read_only=True)


def event_count(backend: Backend) -> int:
    engine = create_engine(backend.store_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(Event)).scalar_one())
    finally:
        engine.dispose()


def set_revision(backend: Backend, revision: str) -> None:
    """Write a revision into the bookkeeping table by hand, as a newer (or broken) installation would leave it."""
    engine = create_engine(backend.store_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = :revision"), {"revision": revision})
    finally:
        engine.dispose()


def test_read_only_reads_everything_and_refuses_every_write(backend: Backend, packages: Any, tmp_path: Path) -> None:
    with backend.open() as writer:
        writer.register("digits", packages(0.9))
        writer.register("digits", packages(0.95))
        writer.promote("digits:1", "staging")
        writer.record_deployment("digits:1", "bento:digits_service:v1", "built")
    before = event_count(backend)

    with open_read_only(backend) as reader:
        assert reader.read_only
        assert reader.resolve("digits@staging").version == 1
        assert [version.version for version in reader.list_versions("digits")] == [1, 2]
        assert reader.labels("digits") == {"staging": (1,)}
        assert [event.kind for event in reader.history("digits")][:2] == ["registered", "registered"]
        assert [(d.target, d.status) for d in reader.deployments("digits")] == [("bento:digits_service:v1", "built")]
        assert reader.verify().ok
        assert (reader.load("digits@staging", tmp_path / "loaded") / "model.safetensors").is_file()
        writes = {
            "register": lambda: reader.register("digits", packages(0.99)),
            "promote": lambda: reader.promote("digits:2", "staging"),
            "set_alias": lambda: reader.set_alias("digits:1", "champion"),
            "rollback": lambda: reader.rollback("digits", "staging"),
            "delete_version": lambda: reader.delete_version("digits:2"),
            "gc": lambda: reader.gc(0),
            "record_deployment": lambda: reader.record_deployment("digits:1", "service:api@host", "serving"),
            "evaluate_gate": lambda: reader.evaluate_gate("digits:2", "staging"),
            "describe_model": lambda: reader.describe_model("digits", "new text"),
        }
        for operation, write in writes.items():
            with pytest.raises(
                RegistryError, match=f"{operation} writes to the registry, but this registry was opened read-only"
            ):
                write()
        # The database itself refuses writes too, so a bug behind the facade cannot write either.
        with pytest.raises(Exception, match="(?i)read-only|readonly"):
            with reader.engine.begin() as connection:
                connection.execute(text("DELETE FROM registry_metrics"))
    assert event_count(backend) == before


def test_read_only_open_of_an_empty_database_names_the_upgrade_command(backend: Backend) -> None:
    if backend.name == "sqlite":
        # An existing but empty file: the read-only open must not create tables in it.
        Path(backend.store_url.removeprefix("sqlite:///")).touch()
    with pytest.raises(RegistryError) as caught:
        open_read_only(backend)
    message = str(caught.value)
    assert "has no registry schema" in message
    assert f"revision {head_revision()!r} needed" in message
    assert f"`{UPGRADE_COMMAND}`" in message
    engine = create_registry_engine(backend.store_url)
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_read_only_open_of_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    database = tmp_path / "nothing" / "registry.db"
    with pytest.raises(RegistryError, match=f"does not exist.*`{UPGRADE_COMMAND}`"):
        Registry.open(f"sqlite:///{database}", str(tmp_path / "artifacts"), read_only=True)
    assert not database.exists() and not database.parent.exists()


def test_read_only_open_of_an_older_schema_fails_until_upgraded(backend: Backend) -> None:
    """The database at the revision before head (as an older mlops_declare left it)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    previous = ScriptDirectory.from_config(_alembic_config()).get_revision(head_revision()).down_revision
    assert isinstance(previous, str), f"head revision {head_revision()!r} has no single previous revision: {previous!r}"
    engine = create_engine(backend.store_url)
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, str(previous))
    finally:
        engine.dispose()

    with pytest.raises(RegistryError) as caught:
        open_read_only(backend)
    message = str(caught.value)
    assert f"is at schema revision {previous!r}, older than the revision {head_revision()!r}" in message
    assert f"`{UPGRADE_COMMAND}`" in message

    engine = create_registry_engine(backend.store_url)
    try:
        assert upgrade_to_head(engine) == (previous, head_revision())
    finally:
        engine.dispose()
    with open_read_only(backend) as reader:
        assert reader.list_models() == []


def test_a_schema_from_a_newer_release_is_refused_by_both_opens(backend: Backend) -> None:
    backend.open().close()
    set_revision(backend, "9999_from_the_future")
    with pytest.raises(RegistryError) as caught:
        open_read_only(backend)
    message = str(caught.value)
    assert "'9999_from_the_future', which this mlops_declare does not know" in message
    assert f"needs revision {head_revision()!r}" in message and UPGRADE_COMMAND in message
    # A writable open must not try (and fail inside Alembic) to migrate a schema it does not know.
    with pytest.raises(RegistryError, match="does not know"):
        backend.open()


@pytest.mark.postgres
def test_the_message_never_shows_the_database_password(postgres_database: str, tmp_path: Path) -> None:
    from tests.unit.registry.support import drop_postgres_schema, postgres_schema_url

    schema, url = postgres_schema_url(postgres_database)
    with_password = url.replace("postgres@", "postgres:s3cret-pw@")
    try:
        with pytest.raises(RegistryError) as caught:
            Registry.open(with_password, str(tmp_path / "artifacts"), read_only=True)
        assert "s3cret-pw" not in str(caught.value)
        assert "postgres:***@127.0.0.1" in str(caught.value)
    finally:
        drop_postgres_schema(postgres_database, schema)
