"""Alembic environment: always runs on the connection `mlops_declare.registry.database` hands over."""

from __future__ import annotations

from alembic import context

from mlops_declare.registry.models import VERSION_TABLE, Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
