"""Initial registry schema: models, versions, artefact manifest, metrics, assignments, deployments, event log.

The event log is append-only in the database itself: triggers refuse UPDATE and DELETE.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_models")),
        sa.UniqueConstraint("name", name=op.f("uq_registry_models_name")),
    )
    op.create_table(
        "registry_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["registry_models.id"], name=op.f("fk_registry_events_model_id_registry_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_events")),
    )
    op.create_index("ix_registry_events_model_id_id", "registry_events", ["model_id", "id"], unique=False)
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("object_key", sa.String(length=160), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("config_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("package_version", sa.String(length=64), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("training_run_id", sa.String(length=256), nullable=True),
        sa.Column("airflow_dag_id", sa.String(length=256), nullable=True),
        sa.Column("airflow_run_id", sa.String(length=256), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["registry_models.id"], name=op.f("fk_registry_versions_model_id_registry_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_versions")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_registry_versions_model_id_version")),
    )
    op.create_index(
        "ix_registry_versions_model_id_status_version",
        "registry_versions",
        ["model_id", "status", "version"],
        unique=False,
    )
    op.create_index(
        "ix_registry_versions_model_id_training_run_id",
        "registry_versions",
        ["model_id", "training_run_id"],
        unique=False,
    )
    op.create_table(
        "registry_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["registry_versions.id"], name=op.f("fk_registry_artifacts_version_id_registry_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_artifacts")),
        sa.UniqueConstraint("version_id", "path", name=op.f("uq_registry_artifacts_version_id_path")),
    )
    op.create_table(
        "registry_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["registry_models.id"], name=op.f("fk_registry_assignments_model_id_registry_models")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["registry_versions.id"], name=op.f("fk_registry_assignments_version_id_registry_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_assignments")),
        sa.UniqueConstraint("model_id", "label", "slot", name=op.f("uq_registry_assignments_model_id_label_slot")),
    )
    op.create_index("ix_registry_assignments_version_id", "registry_assignments", ["version_id"], unique=False)
    _make_events_append_only()
    op.create_table(
        "registry_deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("bento_tag", sa.String(length=256), nullable=True),
        sa.Column("endpoint", sa.String(length=512), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["registry_versions.id"], name=op.f("fk_registry_deployments_version_id_registry_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_deployments")),
        sa.UniqueConstraint("version_id", "service", name=op.f("uq_registry_deployments_version_id_service")),
    )
    op.create_table(
        "registry_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["registry_versions.id"], name=op.f("fk_registry_metrics_version_id_registry_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_metrics")),
        sa.UniqueConstraint("version_id", "split", "name", name=op.f("uq_registry_metrics_version_id_split_name")),
    )


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table("registry_metrics")
    op.drop_table("registry_deployments")
    op.drop_index("ix_registry_assignments_version_id", table_name="registry_assignments")
    op.drop_table("registry_assignments")
    op.drop_table("registry_artifacts")
    op.drop_index("ix_registry_versions_model_id_training_run_id", table_name="registry_versions")
    op.drop_index("ix_registry_versions_model_id_status_version", table_name="registry_versions")
    op.drop_table("registry_versions")
    op.drop_index("ix_registry_events_model_id_id", table_name="registry_events")
    op.drop_table("registry_events")
    op.drop_table("registry_models")


APPEND_ONLY = "registry_events is append-only"


def _make_events_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION registry_events_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER registry_events_append_only BEFORE UPDATE OR DELETE ON registry_events "
            "FOR EACH ROW EXECUTE FUNCTION registry_events_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER registry_events_no_{action.lower()} BEFORE {action} ON registry_events "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER registry_events_append_only ON registry_events")
        op.execute("DROP FUNCTION registry_events_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER registry_events_no_{action}")
