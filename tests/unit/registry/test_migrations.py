"""Alembic migrations match the SQLAlchemy models, apply on open, and go down and up cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from mlops_declare.registry.database import _alembic_config, current_revision, head_revision
from mlops_declare.registry.models import VERSION_TABLE, Base
from tests.unit.registry.support import Backend


def test_alembic_head_matches_the_models(backend: Backend) -> None:
    registry = backend.open()
    try:
        with registry.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        registry.close()
    assert differences == []


def test_open_upgrades_an_empty_database_and_reopening_is_a_no_op(backend: Backend, packages: Any) -> None:
    first = backend.open()
    first.register("digits", packages())
    first.close()
    second = backend.open()
    try:
        assert current_revision(second.engine) == head_revision()
        assert second.resolve("digits:1").version == 1
    finally:
        second.close()


def test_downgrade_to_base_and_upgrade_again(backend: Backend) -> None:
    from alembic import command

    backend.open().close()
    engine = create_engine(backend.store_url)
    try:
        for target in ("base", "head"):
            with engine.begin() as connection:
                config = _alembic_config()
                config.attributes["connection"] = connection
                (command.downgrade if target == "base" else command.upgrade)(config, target)
            tables = set(inspect(engine).get_table_names())
            expected = {table.name for table in Base.metadata.sorted_tables}
            assert (expected <= tables) == (target == "head")
            assert not (expected & tables) or target == "head"
    finally:
        engine.dispose()
