"""Monitoring tables in the registry database: every check, every column's test, every metric.

They share the registry's metadata (so one Alembic history covers both) and carry the
`monitoring_` prefix. The monitor writes and reads them (mlops_declare/monitor/store.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mlops_declare.registry.models import Base


class MonitoringCheck(Base):
    """One check of one window: which model version, which rows, the dataset verdict."""

    __tablename__ = "monitoring_checks"
    __table_args__ = (Index("ix_monitoring_checks_model_name_model_version_id", "model_name", "model_version", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    dataset_drift: Mapped[bool] = mapped_column(Boolean)
    drift_share: Mapped[float] = mapped_column(Float)
    drift: Mapped[bool] = mapped_column(Boolean)
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MonitoringColumn(Base):
    """One column's test in one check: method, score and its kind, threshold, decision (alarm or not)."""

    __tablename__ = "monitoring_columns"
    __table_args__ = (Index("ix_monitoring_columns_column_check_id", "column", "check_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("monitoring_checks.id", ondelete="CASCADE"))
    column: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    chosen_by: Mapped[str] = mapped_column(String(16))
    score_kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_value_adjusted: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float] = mapped_column(Float)
    drifted: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(32))


class MonitoringMetric(Base):
    """A figure of one check: multivariate tests, measured and estimated performance."""

    __tablename__ = "monitoring_metrics"
    __table_args__ = (Index("ix_monitoring_metrics_check_id", "check_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("monitoring_checks.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    breached: Mapped[bool] = mapped_column(Boolean)
    estimated: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
