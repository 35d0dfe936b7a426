"""Monitoring tables: checks, per-column tests and metrics (mlops_declare/registry/monitoring_tables.py).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("dataset_drift", sa.Boolean(), nullable=False),
        sa.Column("drift_share", sa.Float(), nullable=False),
        sa.Column("drift", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_checks")),
    )
    op.create_index(
        "ix_monitoring_checks_model_name_model_version_id",
        "monitoring_checks",
        ["model_name", "model_version", "id"],
        unique=False,
    )
    op.create_table(
        "monitoring_columns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("chosen_by", sa.String(length=16), nullable=False),
        sa.Column("score_kind", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("p_value_adjusted", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["monitoring_checks.id"],
            name=op.f("fk_monitoring_columns_check_id_monitoring_checks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_columns")),
    )
    op.create_index("ix_monitoring_columns_column_check_id", "monitoring_columns", ["column", "check_id"], unique=False)
    op.create_table(
        "monitoring_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["monitoring_checks.id"],
            name=op.f("fk_monitoring_metrics_check_id_monitoring_checks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_metrics")),
    )
    op.create_index("ix_monitoring_metrics_check_id", "monitoring_metrics", ["check_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_monitoring_metrics_check_id", table_name="monitoring_metrics")
    op.drop_table("monitoring_metrics")
    op.drop_index("ix_monitoring_columns_column_check_id", table_name="monitoring_columns")
    op.drop_table("monitoring_columns")
    op.drop_index("ix_monitoring_checks_model_name_model_version_id", table_name="monitoring_checks")
    op.drop_table("monitoring_checks")
