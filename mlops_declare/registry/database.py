"""Opening the registry database: engine settings per backend and Alembic upgrade to head on open.

SQLite runs in WAL mode and every write transaction starts with BEGIN IMMEDIATE, so concurrent
writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.
PostgreSQL runs at READ COMMITTED; compare-and-set updates and row locks keep writers correct.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool, StaticPool

from mlops_declare.registry.errors import RegistryError
from mlops_declare.registry.models import VERSION_TABLE

MIGRATIONS = "mlops_declare.registry:migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
ADVISORY_LOCK_KEY = 0x6D6C6F7073
"""PostgreSQL advisory lock taken while migrating, so concurrent openers upgrade one at a time."""
READ_ONLY = "registry_read_only"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for another backend or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def create_registry_engine(url: str) -> Engine:
    """An engine for `url` with the registry's per-backend settings; RegistryError on a bad URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise RegistryError(f"registry store_url {url!r} is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    raise RegistryError(f"registry store_url {url!r}: backend {backend!r} is not supported; use sqlite or postgresql")


def _sqlite_engine(url: str) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # NullPool: a connection per use keeps forked worker processes from sharing SQLite handles.
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:
        # An in-memory database lives as long as its one connection, so every use must share it.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Driver-level autocommit: SQLAlchemy's "begin" hook below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if path is not None:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads (a deferred BEGIN on SQLite, so readers never queue behind writers)."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{READ_ONLY: True})
        with connection.begin():
            yield connection


def upgrade_to_head(engine: Engine) -> None:
    """Apply every pending migration; a no-op when the schema is current. Safe with concurrent openers."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if current_revision(engine) == head:
        return
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(text(f"pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")))
        _run_upgrade(connection)


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, or None for an empty one."""
    from alembic.runtime.migration import MigrationContext

    try:
        with read_transaction(engine) as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    except OperationalError as exc:
        raise RegistryError(f"cannot open the registry database {engine.url!r}: {exc.orig}") from None


def _run_upgrade(connection: Connection) -> None:
    from alembic import command

    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config
