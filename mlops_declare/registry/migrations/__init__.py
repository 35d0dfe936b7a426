"""Alembic migrations of the registry schema, shipped in the package; applied by a writable `Registry.open`
and `mlops-declare registry upgrade` (a read-only open only checks the revision)."""
