"""Opening the registry database: engine settings per backend, Alembic upgrade to head, read-only opens.

SQLite runs in WAL mode and every write transaction starts with BEGIN IMMEDIATE, so concurrent
writers queue on the busy timeout instead of failing when a read lock cannot be upgraded.
PostgreSQL runs at READ COMMITTED; compare-and-set updates and row locks keep writers correct.
A read-only engine (serving replicas, monitors) opens SQLite with `mode=ro` and PostgreSQL sessions
as READ ONLY, never migrates, and refuses a schema that is not at the package's head revision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import NullPool, StaticPool

from mlops_declare.registry.errors import RegistryError
from mlops_declare.registry.models import VERSION_TABLE

MIGRATIONS = "mlops_declare.registry:migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
ADVISORY_LOCK_KEY = 0x6D6C6F7073
"""PostgreSQL advisory lock taken while migrating, so concurrent openers upgrade one at a time."""
READ_ONLY = "registry_read_only"
UPGRADE_COMMAND = "mlops-declare registry upgrade"
"""The command that migrates a registry database to the installed package's schema."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for another backend or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def redacted_url(url: str | URL) -> str:
    """The URL with its password masked, safe to show in messages and logs."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<not a database URL>"
    return parsed.render_as_string(hide_password=True)


def create_registry_engine(url: str, read_only: bool = False) -> Engine:
    """An engine for `url` with the registry's per-backend settings; RegistryError on a bad URL.

    A read-only engine cannot write: SQLite opens the file with `mode=ro` (and never creates it),
    PostgreSQL sessions are `READ ONLY`.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise RegistryError(f"registry store_url {redacted_url(url)!r} is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, read_only)
    if backend == "postgresql":
        engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
        if read_only:
            event.listen(engine, "connect", _postgres_read_only)
        return engine
    raise RegistryError(
        f"registry store_url {redacted_url(url)!r}: backend {backend!r} is not supported; use sqlite or postgresql"
    )


def _postgres_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_engine(url: str, read_only: bool = False) -> Engine:
    path = sqlite_path(url)
    if path is not None and read_only:
        if not path.is_file():
            raise RegistryError(
                f"the registry database {str(path)!r} does not exist; a read-only open never creates it: "
                f"run `{UPGRADE_COMMAND}` (it creates the schema)"
            )
        read_only_url = URL.create(
            "sqlite", database=f"file:{quote(path.resolve().as_posix())}", query={"mode": "ro", "uri": "true"}
        )
        engine = create_engine(
            read_only_url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
    elif path is not None:
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
        if path is not None and not read_only:
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


def head_revision() -> str:
    """The schema revision the installed package's migrations end at."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RegistryError("the registry package ships no migrations")
    return str(head)


def known_revisions() -> set[str]:
    """Every revision the installed package's migrations know."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def upgrade_to_head(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; a no-op when the schema is current. Safe with concurrent openers.

    Returns (revision before, revision after). RegistryError when the database is at a revision
    this package does not know (a newer mlops_declare migrated it).
    """
    head = head_revision()
    before = current_revision(engine)
    if before == head:
        return before, head
    if before is not None and before not in known_revisions():
        raise RegistryError(_newer_schema_message(engine, before, head))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(text(f"pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")))
        _run_upgrade(connection)
    return before, head


def check_schema_is_current(engine: Engine) -> str:
    """The database's revision when it equals the package's head; RegistryError saying what to run otherwise."""
    head = head_revision()
    found = current_revision(engine)
    if found == head:
        return head
    database = redacted_url(engine.url)
    if found is None:
        raise RegistryError(
            f"the registry database {database!r} has no registry schema (no revision recorded; revision "
            f"{head!r} needed); a read-only open never migrates: run `{UPGRADE_COMMAND}` once with write access"
        )
    if found not in known_revisions():
        raise RegistryError(_newer_schema_message(engine, found, head))
    raise RegistryError(
        f"the registry database {database!r} is at schema revision {found!r}, older than the revision {head!r} "
        f"this package needs; a read-only open never migrates: run `{UPGRADE_COMMAND}` once with write access"
    )


def _newer_schema_message(engine: Engine, found: str, head: str) -> str:
    return (
        f"the registry database {redacted_url(engine.url)!r} is at schema revision {found!r}, which this "
        f"mlops_declare does not know (it needs revision {head!r}): a newer mlops_declare migrated it; install "
        f"that newer mlops_declare here (`{UPGRADE_COMMAND}` cannot go back to {head!r})"
    )


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, or None for an empty one."""
    from alembic.runtime.migration import MigrationContext

    try:
        with read_transaction(engine) as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    except (OperationalError, DBAPIError) as exc:
        raise RegistryError(f"cannot open the registry database {redacted_url(engine.url)!r}: {exc.orig}") from None


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
