"""SQLAlchemy 2 tables of the registry; Alembic migrations in `migrations/` must match them exactly.

Every table carries the `registry_` prefix so the registry can share a PostgreSQL database with
other systems (Airflow's metadata tables, for instance).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
VERSION_TABLE = "registry_alembic_version"
"""Alembic's bookkeeping table, prefixed so it never collides with another tool's `alembic_version`."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RegisteredModel(Base):
    """A model name; versions hang off it and `next_version` hands out monotonic version numbers."""

    __tablename__ = "registry_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelVersionRow(Base):
    """One registered version: where its artefacts are, how it was made and how good it is."""

    __tablename__ = "registry_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        Index("ix_registry_versions_model_id_status_version", "model_id", "status", "version"),
        Index("ix_registry_versions_model_id_training_run_id", "model_id", "training_run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registry_models.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    object_key: Mapped[str] = mapped_column(String(160))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    config_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    datasets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    package_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    git_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    training_run_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    airflow_dag_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    airflow_run_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ArtifactFile(Base):
    """One file of a version's package with its sha256 and size: the manifest, row by row."""

    __tablename__ = "registry_artifacts"
    __table_args__ = (UniqueConstraint("version_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"))
    path: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class MetricValue(Base):
    """One metric of a version on one evaluation split (e.g. test accuracy)."""

    __tablename__ = "registry_metrics"
    __table_args__ = (UniqueConstraint("version_id", "split", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"))
    split: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class Assignment(Base):
    """A version holding a stage or an alias.

    `slot` is 0 for single holders (every alias, single-holder stages) and the version number
    for multi-holder stages, so the unique constraint itself enforces "one holder".
    """

    __tablename__ = "registry_assignments"
    __table_args__ = (
        UniqueConstraint("model_id", "label", "slot"),
        Index("ix_registry_assignments_version_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registry_models.id"))
    label: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    slot: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assigned_by: Mapped[str] = mapped_column(String(128))


class Deployment(Base):
    """Where a version runs: a service, its bento tag and endpoint, and the status since when."""

    __tablename__ = "registry_deployments"
    __table_args__ = (UniqueConstraint("version_id", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"))
    service: Mapped[str] = mapped_column(String(128))
    bento_tag: Mapped[str | None] = mapped_column(String(256), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(512), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """The append-only audit log: what happened to which version, when, by whom, from -> to, why."""

    __tablename__ = "registry_events"
    __table_args__ = (Index("ix_registry_events_model_id_id", "model_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registry_models.id"))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The monitoring tables share this metadata, so one Alembic history (and `compare_metadata`) covers both.
from mlops_declare.registry import monitoring_tables as monitoring_tables  # noqa: E402
