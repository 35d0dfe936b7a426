"""Reading the registry: resolve references, list models and versions, label holders, the event log.

Every query runs in a read transaction (a deferred BEGIN on SQLite, so readers never queue behind
writers); the moves and the storage build on `Queries.target` and `Queries.version_record`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select, update

from mlops_declare.config.messages import suggest
from mlops_declare.config.registry import RegistryConfig
from mlops_declare.registry.artifacts import ManifestEntry
from mlops_declare.registry.database import read_transaction
from mlops_declare.registry.errors import NotFoundError, RegistryError
from mlops_declare.registry.events import history_event
from mlops_declare.registry.models import (
    ArtifactFile,
    Assignment,
    Event,
    MetricValue,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_declare.registry.records import HistoryEvent, Lineage, ModelSummary, ModelVersion, as_utc
from mlops_declare.registry.refs import ModelRef, parse_model_ref, validate_name


@dataclass(frozen=True)
class Target:
    """A resolved version row plus its model, inside one transaction."""

    model_id: int
    name: str
    version_id: int
    version: int
    status: str


def as_ref(ref: str | ModelRef) -> ModelRef:
    return parse_model_ref(ref) if isinstance(ref, str) else ref


class Queries:
    """The read side of the registry: references to versions, listings, labels and history."""

    def __init__(self, engine: Engine, config: RegistryConfig) -> None:
        self.engine = engine
        self.config = config

    # --- references ----------------------------------------------------------

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference names (`digits@production`, `digits:7`, `digits:latest`)."""
        with read_transaction(self.engine) as connection:
            return self.version_record(connection, self.target(connection, as_ref(ref)))

    def target(self, connection: Connection, ref: ModelRef) -> Target:
        """The version row a reference names; NotFoundError saying why there is none."""
        model_id = self.model_id(connection, ref.name)
        columns = (ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.status)
        if ref.version is not None:
            row = connection.execute(
                select(*columns).where(ModelVersionRow.model_id == model_id, ModelVersionRow.version == ref.version)
            ).first()
            if row is None:
                raise NotFoundError(f"{ref}: model {ref.name!r} has no version {ref.version}")
            if row.status == "deleted":
                raise NotFoundError(
                    f"{ref}: version {ref.version} of {ref.name!r} was deleted "
                    f"({self._deletion(connection, model_id, ref.version)})"
                )
        elif ref.is_latest:
            row = connection.execute(
                select(*columns)
                .where(ModelVersionRow.model_id == model_id, ModelVersionRow.status != "deleted")
                .order_by(ModelVersionRow.version.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFoundError(f"{ref}: model {ref.name!r} has no live version")
        else:
            row = connection.execute(
                select(*columns)
                .join(Assignment, Assignment.version_id == ModelVersionRow.id)
                .where(Assignment.model_id == model_id, Assignment.label == ref.label)
                .order_by(Assignment.id.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFoundError(self._no_holder_message(ref))
        return Target(model_id, ref.name, row.id, row.version, row.status)

    def _no_holder_message(self, ref: ModelRef) -> str:
        label = ref.label or ""
        declared = [stage.name for stage in self.config.stages] + list(self.config.aliases)
        if label in declared:
            return f"{ref}: no version of {ref.name!r} holds {label!r} yet"
        listing = ", ".join(declared) if declared else "none declared in registry.stages / registry.aliases"
        return f"{ref}: nothing holds {label!r}; stages and aliases: {listing}{suggest(label, declared)}"

    def _deletion(self, connection: Connection, model_id: int, version: int) -> str:
        event = connection.execute(
            select(Event.actor, Event.created_at, Event.reason)
            .where(Event.model_id == model_id, Event.kind == "deleted", Event.version == version)
            .order_by(Event.id.desc())
        ).first()
        if event is None:
            return "no deletion event"
        when = as_utc(event.created_at).isoformat(timespec="seconds")
        return f"by {event.actor} at {when}: {event.reason or 'no reason given'}"

    def model_id(self, connection: Connection, name: str) -> int:
        """The id of model `name`; NotFoundError listing the registered names otherwise."""
        validate_name(name)
        model_id = connection.execute(select(RegisteredModel.id).where(RegisteredModel.name == name)).scalar()
        if model_id is None:
            names = list(connection.execute(select(RegisteredModel.name).order_by(RegisteredModel.name)).scalars())
            listing = ", ".join(names[:20]) if names else "none registered yet"
            raise NotFoundError(f"no model named {name!r} in the registry (models: {listing}){suggest(name, names)}")
        return int(model_id)

    def single_holder(self, connection: Connection, model_id: int, name: str, label: str) -> Target | None:
        """The version holding a single-holder stage or an alias, if any."""
        row = connection.execute(
            select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.status)
            .join(Assignment, Assignment.version_id == ModelVersionRow.id)
            .where(Assignment.model_id == model_id, Assignment.label == label, Assignment.slot == 0)
        ).first()
        return Target(model_id, name, row.id, row.version, row.status) if row else None

    # --- records -------------------------------------------------------------

    def version_record(self, connection: Connection, target: Target) -> ModelVersion:
        """Everything stored about one version: files, metrics, lineage, stages and aliases."""
        row = connection.execute(select(ModelVersionRow.__table__).where(ModelVersionRow.id == target.version_id)).one()
        files = tuple(
            ManifestEntry(path, sha256, size)
            for path, sha256, size in connection.execute(
                select(ArtifactFile.path, ArtifactFile.sha256, ArtifactFile.size_bytes)
                .where(ArtifactFile.version_id == row.id)
                .order_by(ArtifactFile.path)
            )
        )
        metrics: dict[str, dict[str, float]] = {}
        for split, metric, value in connection.execute(
            select(MetricValue.split, MetricValue.name, MetricValue.value).where(MetricValue.version_id == row.id)
        ):
            metrics.setdefault(split, {})[metric] = value
        labels = connection.execute(
            select(Assignment.label, Assignment.kind).where(Assignment.version_id == row.id).order_by(Assignment.label)
        ).all()
        return ModelVersion(
            name=target.name,
            version=row.version,
            status=row.status,
            created_at=as_utc(row.created_at),
            created_by=row.created_by,
            description=row.description,
            object_key=row.object_key,
            manifest_sha256=row.manifest_sha256,
            size_bytes=row.size_bytes,
            files=files,
            metrics=metrics,
            lineage=Lineage(
                config_fingerprint=row.config_fingerprint,
                config=row.config,
                datasets=row.datasets or {},
                package_version=row.package_version,
                git_commit=row.git_commit,
                parent_version=row.parent_version,
                training_run_id=row.training_run_id,
                airflow_dag_id=row.airflow_dag_id,
                airflow_run_id=row.airflow_run_id,
                extra=row.extra or {},
            ),
            stages=tuple(label for label, kind in labels if kind == "stage"),
            aliases=tuple(label for label, kind in labels if kind == "alias"),
        )

    def live_versions(self) -> Iterator[ModelVersion]:
        """Every version not deleted, of every model, by name then version."""
        with read_transaction(self.engine) as connection:
            rows = connection.execute(
                select(
                    RegisteredModel.id,
                    RegisteredModel.name,
                    ModelVersionRow.id,
                    ModelVersionRow.version,
                    ModelVersionRow.status,
                )
                .join(ModelVersionRow, ModelVersionRow.model_id == RegisteredModel.id)
                .where(ModelVersionRow.status != "deleted")
                .order_by(RegisteredModel.name, ModelVersionRow.version)
            ).all()
            records = [self.version_record(connection, Target(*row)) for row in rows]
        yield from records

    # --- listings ------------------------------------------------------------

    def list_models(self) -> list[ModelSummary]:
        """Every model with its newest live version and label holders."""
        with read_transaction(self.engine) as connection:
            models = connection.execute(
                select(
                    RegisteredModel.id, RegisteredModel.name, RegisteredModel.description, RegisteredModel.tags
                ).order_by(RegisteredModel.name)
            ).all()
            return [self._summary(connection, model) for model in models]

    def _summary(self, connection: Connection, model: Row[Any]) -> ModelSummary:
        live = (ModelVersionRow.model_id == model.id, ModelVersionRow.status != "deleted")
        latest, count = connection.execute(select(func.max(ModelVersionRow.version), func.count()).where(*live)).one()
        labels = self.labels_of(connection, model.id)
        return ModelSummary(model.name, model.description, latest, count, labels, dict(model.tags or {}))

    def describe_model(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ModelSummary:
        """Set a model's description and/or replace its tags (string keys and values)."""
        if tags is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise RegistryError(f"tags of {name!r} must map strings to strings, got {dict(tags)!r}")
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = description
        if tags is not None:
            values["tags"] = dict(tags)
        with self.engine.begin() as connection:
            model_id = self.model_id(connection, name)
            if values:
                connection.execute(update(RegisteredModel).where(RegisteredModel.id == model_id).values(**values))
        return next(summary for summary in self.list_models() if summary.name == name)

    def labels(self, name: str) -> dict[str, tuple[int, ...]]:
        """Stage or alias -> the version numbers holding it."""
        with read_transaction(self.engine) as connection:
            return self.labels_of(connection, self.model_id(connection, name))

    def labels_of(self, connection: Connection, model_id: int) -> dict[str, tuple[int, ...]]:
        holders: dict[str, list[int]] = {}
        for label, version in connection.execute(
            select(Assignment.label, ModelVersionRow.version)
            .join(ModelVersionRow, ModelVersionRow.id == Assignment.version_id)
            .where(Assignment.model_id == model_id)
            .order_by(Assignment.label, ModelVersionRow.version)
        ):
            holders.setdefault(label, []).append(version)
        return {label: tuple(versions) for label, versions in holders.items()}

    def list_versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        with read_transaction(self.engine) as connection:
            model_id = self.model_id(connection, name)
            query = select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.status).where(
                ModelVersionRow.model_id == model_id
            )
            if not include_deleted:
                query = query.where(ModelVersionRow.status != "deleted")
            rows = connection.execute(query.order_by(ModelVersionRow.version)).all()
            return [self.version_record(connection, Target(model_id, name, r.id, r.version, r.status)) for r in rows]

    def history(self, name: str) -> list[HistoryEvent]:
        """The model's event log, oldest first."""
        with read_transaction(self.engine) as connection:
            model_id = self.model_id(connection, name)
            rows = connection.execute(
                select(Event.__table__).where(Event.model_id == model_id).order_by(Event.id)
            ).all()
            return [history_event(name, row) for row in rows]
