"""Monitoring fixtures: the registry's SQLite/PostgreSQL backends (tests/unit/registry/support.py)."""

from tests.unit.registry.support import backend, postgres_database

__all__ = ["backend", "postgres_database"]
