"""Registry fixtures: see tests/unit/registry/support.py."""

from tests.unit.registry.support import backend, packages, postgres_database, registry

__all__ = ["backend", "packages", "postgres_database", "registry"]
