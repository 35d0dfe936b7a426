"""Alembic migrations of the registry schema, shipped in the package and applied by `Registry.open`."""
