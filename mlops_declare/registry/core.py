"""The Registry: atomic registration, gated compare-and-set promotion, aliases, rollback, audit log, integrity.

Writes happen in short transactions. Artefacts are staged, fsynced and verified before the
version row is committed, so a crash leaves at most an unlisted orphan that `gc` removes. Every
move of a stage or alias is a compare-and-set on the holder the caller saw, and is recorded in
the append-only event log in the same transaction.
"""

from __future__ import annotations

import difflib
import getpass
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

from mlops_declare.config.registry import RegistryConfig, Stage
from mlops_declare.registry import gates
from mlops_declare.registry.artifacts import (
    ArtifactStore,
    ManifestEntry,
    manifest_digest,
    scan_package,
    sha256_of_stream,
    staging_key,
)
from mlops_declare.registry.database import create_registry_engine, read_transaction, sqlite_path, upgrade_to_head
from mlops_declare.registry.errors import (
    BadReference,
    GateRefused,
    IntegrityError,
    NotFoundError,
    PromotionConflict,
    RegistryError,
)
from mlops_declare.registry.gates import GateDecision
from mlops_declare.registry.models import (
    ArtifactFile,
    Assignment,
    Deployment,
    Event,
    MetricValue,
    ModelVersionRow,
    RegisteredModel,
)
from mlops_declare.registry.records import (
    DEPLOYMENT_STATUSES,
    DeploymentRecord,
    GcReport,
    HistoryEvent,
    Lineage,
    ModelSummary,
    ModelVersion,
    PromotionResult,
    VerifyReport,
    as_utc,
    checked_metrics,
    read_package_metrics,
    utc_now,
)
from mlops_declare.registry.refs import ModelRef, parse_model_ref, validate_artifact_path, validate_name

ACTOR_VARIABLE = "MLOPS_DECLARE_ACTOR"
DEFAULT_GC_MIN_AGE_SECONDS = 3600.0
"""gc leaves younger orphans alone: they may belong to a registration that has not committed yet."""
LABEL_MOVES = ("promoted", "rolled_back", "alias_set")


class _Unset:
    """Marker for "compare against the holder seen while evaluating the gate"."""


UNSET: Any = _Unset()


def default_actor() -> str:
    """Who is acting: $MLOPS_DECLARE_ACTOR, else the login name."""
    actor = os.environ.get(ACTOR_VARIABLE)
    if actor:
        return actor[:128]
    try:
        return getpass.getuser()[:128]
    except (OSError, KeyError):
        return "unknown"


def resolve_store_urls(config: RegistryConfig, project_root: str | Path) -> tuple[str, str]:
    """(store_url, artifact_url) with relative SQLite and local paths made absolute against the project root."""
    root = Path(project_root).resolve()
    store_url = config.store_url
    path = sqlite_path(store_url)
    if path is not None and not path.is_absolute():
        store_url = f"sqlite:///{root / path}"
    artifact_url = config.artifact_url
    if "://" not in artifact_url and not Path(artifact_url).is_absolute():
        artifact_url = str(root / artifact_url)
    return store_url, artifact_url


@dataclass(frozen=True)
class _Target:
    """A resolved version row plus its model, inside one transaction."""

    model_id: int
    name: str
    version_id: int
    version: int
    status: str


class Registry:
    """One registry: a database of records and an artefact store. Open it with `Registry.open`."""

    def __init__(self, engine: Engine, store: ArtifactStore, config: RegistryConfig, cache_dir: Path) -> None:
        self.engine = engine
        self.store = store
        self.config = config
        self.cache_dir = cache_dir

    # --- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        store_url: str,
        artifact_url: str,
        registry_config: RegistryConfig | None = None,
        cache_dir: str | Path | None = None,
    ) -> Registry:
        """Connect, upgrade the schema to head, and open the artefact store."""
        engine = create_registry_engine(store_url)
        try:
            upgrade_to_head(engine)
            store = ArtifactStore(artifact_url)
        except BaseException:
            engine.dispose()
            raise
        if cache_dir is None:
            tag = hashlib.sha256(artifact_url.encode("utf-8")).hexdigest()[:16]
            cache_dir = Path(tempfile.gettempdir()) / "mlops-declare-registry-cache" / tag
        return cls(engine, store, registry_config or RegistryConfig(), Path(cache_dir))

    @classmethod
    def from_config(
        cls, config: RegistryConfig, project_root: str | Path, cache_dir: str | Path | None = None
    ) -> Registry:
        """Open the registry a project's `registry` config names, relative paths against `project_root`."""
        store_url, artifact_url = resolve_store_urls(config, project_root)
        return cls.open(store_url, artifact_url, config, cache_dir)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- registration --------------------------------------------------------

    def register(
        self,
        name: str,
        package_dir: str | Path,
        metrics: Mapping[str, Mapping[str, float]] | None = None,
        lineage: Lineage | None = None,
        *,
        actor: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register a package directory as the next version of `name`; metrics default to its metrics.json.

        The same training run registering the same bytes again gets its existing version back,
        so a retried pipeline step does not create duplicates.
        """
        validate_name(name)
        package = Path(package_dir)
        entries = scan_package(package)
        checked = checked_metrics(metrics, "metrics") if metrics is not None else read_package_metrics(package)
        lineage = (lineage or Lineage()).checked()
        digest = manifest_digest(entries)
        existing = self._same_registration(name, lineage.training_run_id, digest)
        if existing is not None:
            return existing
        key = self._store_verified(package, entries, name)
        try:
            with self.engine.begin() as connection:
                version = self._insert_version(
                    connection, name, entries, digest, key, checked, lineage, actor or default_actor(), description
                )
        except BaseException:
            self._remove_unless_referenced(key)
            raise
        return self.resolve(f"{name}:{version}")

    def _remove_unless_referenced(self, key: str) -> None:
        """Undo a publish whose row did not commit; when the outcome is unknown, leave the files to `gc`."""
        try:
            with read_transaction(self.engine) as connection:
                referenced = connection.execute(
                    select(func.count()).where(ModelVersionRow.object_key == key)
                ).scalar_one()
        except Exception:  # the database is unreachable: gc decides later, from the rows
            return
        if not referenced:
            self.store.remove(key)

    def _store_verified(self, package: Path, entries: list[ManifestEntry], name: str) -> str:
        """Stage, fsync and verify the files, then publish them; returns the object key."""
        identifier = self.store.stage(package, entries)
        problems = self.store.problems(staging_key(identifier), entries)
        if problems:
            self.store.remove(staging_key(identifier))
            raise IntegrityError(f"staged copy of {str(package)!r} failed verification: {'; '.join(problems)}")
        return self.store.publish(identifier, name)

    def _same_registration(self, name: str, run_id: str | None, digest: str) -> ModelVersion | None:
        if not run_id:
            return None
        with read_transaction(self.engine) as connection:
            found = connection.execute(
                select(ModelVersionRow.version)
                .join(RegisteredModel, RegisteredModel.id == ModelVersionRow.model_id)
                .where(
                    RegisteredModel.name == name,
                    ModelVersionRow.training_run_id == run_id,
                    ModelVersionRow.manifest_sha256 == digest,
                    ModelVersionRow.status != "deleted",
                )
            ).scalar()
        return self.resolve(f"{name}:{found}") if found is not None else None

    def _insert_version(
        self,
        connection: Connection,
        name: str,
        entries: list[ManifestEntry],
        digest: str,
        key: str,
        metrics: Mapping[str, Mapping[str, float]],
        lineage: Lineage,
        actor: str,
        description: str,
    ) -> int:
        model_id = self._ensure_model(connection, name)
        version = (
            connection.execute(
                update(RegisteredModel)
                .where(RegisteredModel.id == model_id)
                .values(next_version=RegisteredModel.next_version + 1)
                .returning(RegisteredModel.next_version)
            ).scalar_one()
            - 1
        )
        now = utc_now()
        version_id = connection.execute(
            insert(ModelVersionRow)
            .values(
                model_id=model_id,
                version=version,
                status="ready",
                created_at=now,
                created_by=actor,
                description=description,
                object_key=key,
                manifest_sha256=digest,
                size_bytes=sum(entry.size for entry in entries),
                config_fingerprint=lineage.config_fingerprint,
                config=dict(lineage.config) if lineage.config is not None else None,
                datasets=dict(lineage.datasets),
                package_version=lineage.package_version,
                git_commit=lineage.git_commit,
                parent_version=lineage.parent_version,
                training_run_id=lineage.training_run_id,
                airflow_dag_id=lineage.airflow_dag_id,
                airflow_run_id=lineage.airflow_run_id,
                extra=dict(lineage.extra),
            )
            .returning(ModelVersionRow.id)
        ).scalar_one()
        connection.execute(
            insert(ArtifactFile),
            [{"version_id": version_id, "path": e.path, "sha256": e.sha256, "size_bytes": e.size} for e in entries],
        )
        rows = [
            {"version_id": version_id, "split": split, "name": metric, "value": value}
            for split, values in metrics.items()
            for metric, value in values.items()
        ]
        if rows:
            connection.execute(insert(MetricValue), rows)
        self._log(
            connection,
            model_id,
            "registered",
            actor,
            version=version,
            to_version=version,
            details={"manifest_sha256": digest, "files": len(entries), "object_key": key},
        )
        return version

    def _ensure_model(self, connection: Connection, name: str) -> int:
        """The model's id, creating the row; concurrent creators converge on one row."""
        values = {"name": name, "description": "", "tags": {}, "next_version": 1, "created_at": utc_now()}
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            statement: Any = postgresql.insert(RegisteredModel)
        else:
            from sqlalchemy.dialects import sqlite

            statement = sqlite.insert(RegisteredModel)
        connection.execute(statement.values(**values).on_conflict_do_nothing(index_elements=["name"]))
        return connection.execute(select(RegisteredModel.id).where(RegisteredModel.name == name)).scalar_one()

    # --- reading -------------------------------------------------------------

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference names (`digits@production`, `digits:7`, `digits:latest`)."""
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        with read_transaction(self.engine) as connection:
            target = self._target(connection, parsed)
            return self._version_record(connection, target)

    def _target(self, connection: Connection, ref: ModelRef) -> _Target:
        model_id = self._model_id(connection, ref.name)
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
        return _Target(model_id, ref.name, row.id, row.version, row.status)

    def _no_holder_message(self, ref: ModelRef) -> str:
        label = ref.label or ""
        declared = [stage.name for stage in self.config.stages] + list(self.config.aliases)
        if label in declared:
            return f"{ref}: no version of {ref.name!r} holds {label!r} yet"
        hint = _did_you_mean(label, declared)
        listing = ", ".join(declared) if declared else "none declared in registry.stages / registry.aliases"
        return f"{ref}: nothing holds {label!r}; stages and aliases: {listing}{hint}"

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

    def _model_id(self, connection: Connection, name: str) -> int:
        validate_name(name)
        model_id = connection.execute(select(RegisteredModel.id).where(RegisteredModel.name == name)).scalar()
        if model_id is None:
            names = list(connection.execute(select(RegisteredModel.name).order_by(RegisteredModel.name)).scalars())
            listing = ", ".join(names[:20]) if names else "none registered yet"
            raise NotFoundError(
                f"no model named {name!r} in the registry (models: {listing}){_did_you_mean(name, names)}"
            )
        return model_id

    def _version_record(self, connection: Connection, target: _Target) -> ModelVersion:
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

    def list_models(self) -> list[ModelSummary]:
        """Every model with its newest live version and label holders."""
        with read_transaction(self.engine) as connection:
            models = connection.execute(
                select(
                    RegisteredModel.id, RegisteredModel.name, RegisteredModel.description, RegisteredModel.tags
                ).order_by(RegisteredModel.name)
            ).all()
            return [self._summary(connection, model) for model in models]

    def _summary(self, connection: Connection, model: Any) -> ModelSummary:
        live = (ModelVersionRow.model_id == model.id, ModelVersionRow.status != "deleted")
        latest, count = connection.execute(select(func.max(ModelVersionRow.version), func.count()).where(*live)).one()
        labels = self._labels(connection, model.id)
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
            model_id = self._model_id(connection, name)
            if values:
                connection.execute(update(RegisteredModel).where(RegisteredModel.id == model_id).values(**values))
        return next(summary for summary in self.list_models() if summary.name == name)

    def labels(self, name: str) -> dict[str, tuple[int, ...]]:
        """Stage or alias -> the version numbers holding it."""
        with read_transaction(self.engine) as connection:
            return self._labels(connection, self._model_id(connection, name))

    def _labels(self, connection: Connection, model_id: int) -> dict[str, tuple[int, ...]]:
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
            model_id = self._model_id(connection, name)
            query = select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.status).where(
                ModelVersionRow.model_id == model_id
            )
            if not include_deleted:
                query = query.where(ModelVersionRow.status != "deleted")
            rows = connection.execute(query.order_by(ModelVersionRow.version)).all()
            return [self._version_record(connection, _Target(model_id, name, r.id, r.version, r.status)) for r in rows]

    def history(self, name: str) -> list[HistoryEvent]:
        """The model's event log, oldest first."""
        with read_transaction(self.engine) as connection:
            model_id = self._model_id(connection, name)
            rows = connection.execute(
                select(Event.__table__).where(Event.model_id == model_id).order_by(Event.id)
            ).all()
            return [_history_event(name, row) for row in rows]

    # --- gates and promotion -------------------------------------------------

    def stage(self, name: str) -> Stage:
        """The declared stage `name`; RegistryError listing the declared ones otherwise."""
        for stage in self.config.stages:
            if stage.name == name:
                return stage
        declared = [stage.name for stage in self.config.stages]
        listing = ", ".join(declared) if declared else "none (add them under registry.stages)"
        raise RegistryError(
            f"stage {name!r} is not declared; declared stages: {listing}{_did_you_mean(name, declared)}"
        )

    def evaluate_gate(
        self, ref: str | ModelRef, stage: str, *, actor: str | None = None, baseline: gates.Baseline | None = None
    ) -> GateDecision:
        """Evaluate the stage's gate for a version against the current holder, and log BLESSED/NOT_BLESSED."""
        decision, _ = self._evaluate_and_log(ref, self.stage(stage), actor or default_actor(), baseline)
        return decision

    def _evaluate_and_log(
        self, ref: str | ModelRef, stage: Stage, actor: str, baseline: gates.Baseline | None = None
    ) -> tuple[GateDecision, _Target]:
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        with self.engine.begin() as connection:
            target = self._target(connection, parsed)
            candidate = self._candidate(connection, target)
            if stage.single_holder:
                holder_target = self._single_holder(connection, target.model_id, target.name, stage.name)
            else:
                holder_target = self._newest_holder(connection, target, stage.name)
            holder = self._candidate(connection, holder_target) if holder_target else None
            if holder is not None and baseline is not None and baseline.version == holder.version:
                # The holder re-scored on the candidate's data replaces its recorded numbers.
                holder = gates.Candidate(holder.version, baseline.metrics, baseline.datasets, holder.stages)
            decision = gates.evaluate(target.name, stage, candidate, holder)
            self._log(
                connection,
                target.model_id,
                "evaluated",
                actor,
                version=target.version,
                label=stage.name,
                from_version=decision.baseline_version,
                to_version=target.version,
                decision=decision.decision,
                details=decision.to_dict(),
            )
        return decision, target

    def _candidate(self, connection: Connection, target: _Target) -> gates.Candidate:
        record = self._version_record(connection, target)
        return gates.Candidate(target.version, record.metrics, record.lineage.datasets, record.stages)

    def _single_holder(self, connection: Connection, model_id: int, name: str, label: str) -> _Target | None:
        row = connection.execute(
            select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.status)
            .join(Assignment, Assignment.version_id == ModelVersionRow.id)
            .where(Assignment.model_id == model_id, Assignment.label == label, Assignment.slot == 0)
        ).first()
        return _Target(model_id, name, row.id, row.version, row.status) if row else None

    def _newest_holder(self, connection: Connection, target: _Target, label: str) -> _Target | None:
        """For a multi-holder stage the baseline is the most recently promoted holder other than the candidate."""
        row = connection.execute(
            select(ModelVersionRow.id, ModelVersionRow.version, ModelVersionRow.status)
            .join(Assignment, Assignment.version_id == ModelVersionRow.id)
            .where(
                Assignment.model_id == target.model_id,
                Assignment.label == label,
                Assignment.version_id != target.version_id,
            )
            .order_by(Assignment.id.desc())
            .limit(1)
        ).first()
        return _Target(target.model_id, target.name, row.id, row.version, row.status) if row else None

    def promote(
        self,
        ref: str | ModelRef,
        stage: str,
        *,
        actor: str | None = None,
        force: bool = False,
        reason: str | None = None,
        expected_holder: int | None = UNSET,
        baseline: gates.Baseline | None = None,
    ) -> PromotionResult:
        """Move a version into a stage through its gate, as a compare-and-set on the holder.

        The holder compared against is the one the gate was evaluated against, or
        `expected_holder` (a version number, or None for "empty") when given. If another promoter
        moved the stage in between, PromotionConflict names the new holder. A version failing the
        gate raises GateRefused unless `force` is set with a `reason`, and the move is then logged as forced.
        `baseline` carries the holder's metrics re-computed on the candidate's evaluation data.
        """
        declared = self.stage(stage)
        actor = actor or default_actor()
        if force and not (reason and reason.strip()):
            raise RegistryError(
                f"forcing {ref} into {stage!r} needs a reason (--reason); it is written to the audit log"
            )
        current = self.resolve(ref)
        if stage in current.stages:
            return PromotionResult(current.name, stage, current.version, current.version, changed=False)
        self._refuse_corrupt(current)
        decision, target = self._evaluate_and_log(
            ModelRef(current.name, version=current.version), declared, actor, baseline
        )
        if not decision.blessed and not force:
            raise GateRefused(
                f"{target.name}:{target.version} may not enter {stage!r}:\n{decision.summary()}", decision
            )
        observed = decision.baseline_version if expected_holder is UNSET else expected_holder
        forced = force and not decision.blessed
        details = {"decision": decision.to_dict(), "forced": forced}
        if declared.single_holder:
            previous = self._move_single(target, stage, "stage", observed, actor, reason or "", details, forced)
        else:
            self._add_holder(target, stage, actor, reason or "", details, forced)
            previous = None
        return PromotionResult(target.name, stage, target.version, previous, True, forced, decision)

    def _move_single(
        self,
        target: _Target,
        label: str,
        kind: str,
        observed: int | None,
        actor: str,
        reason: str,
        details: dict[str, Any],
        forced: bool = False,
        event_kind: str | None = None,
    ) -> int | None:
        """Compare-and-set the single holder of `label` from `observed` to `target`; PromotionConflict if it moved."""
        event_kind = event_kind or ("promoted" if kind == "stage" else "alias_set")
        try:
            with self.engine.begin() as connection:
                self._swap_holder(connection, target, label, kind, observed, actor)
                self._after_move(connection, target, label, kind, observed, actor, reason, details, forced, event_kind)
        except (DatabaseIntegrityError, _Conflict):
            raise self._conflict(target, label, observed) from None
        return observed

    def _swap_holder(
        self, connection: Connection, target: _Target, label: str, kind: str, observed: int | None, actor: str
    ) -> None:
        now = utc_now()
        if observed is None:
            # The unique (model, label, slot) constraint makes a concurrent first holder fail here.
            connection.execute(
                insert(Assignment).values(
                    model_id=target.model_id,
                    label=label,
                    kind=kind,
                    slot=0,
                    version_id=target.version_id,
                    assigned_at=now,
                    assigned_by=actor,
                )
            )
            return
        observed_id = (
            select(ModelVersionRow.id)
            .where(ModelVersionRow.model_id == target.model_id, ModelVersionRow.version == observed)
            .scalar_subquery()
        )
        moved = connection.execute(
            update(Assignment)
            .where(
                Assignment.model_id == target.model_id,
                Assignment.label == label,
                Assignment.slot == 0,
                Assignment.version_id == observed_id,
            )
            .values(version_id=target.version_id, assigned_at=now, assigned_by=actor)
        ).rowcount
        if moved != 1:
            raise _Conflict()

    def _after_move(
        self,
        connection: Connection,
        target: _Target,
        label: str,
        kind: str,
        observed: int | None,
        actor: str,
        reason: str,
        details: dict[str, Any],
        forced: bool,
        event_kind: str,
    ) -> None:
        decision = details.get("decision", {}).get("decision") if isinstance(details.get("decision"), dict) else None
        self._log(
            connection,
            target.model_id,
            event_kind,
            actor,
            version=target.version,
            label=label,
            from_version=observed,
            to_version=target.version,
            decision=decision,
            forced=forced,
            reason=reason,
            details=details,
        )
        self._set_status(connection, target.version_id, "ready")
        if kind == "stage" and observed is not None and observed != target.version:
            self._archive(connection, target, label, observed, actor, reason)

    def _archive(
        self, connection: Connection, target: _Target, label: str, version: int, actor: str, reason: str
    ) -> None:
        """Record that `version` left `label`; it becomes archived when it holds nothing else."""
        version_id = connection.execute(
            select(ModelVersionRow.id).where(
                ModelVersionRow.model_id == target.model_id, ModelVersionRow.version == version
            )
        ).scalar_one()
        self._log(
            connection,
            target.model_id,
            "archived",
            actor,
            version=version,
            label=label,
            from_version=version,
            to_version=target.version,
            reason=reason or f"replaced by version {target.version}",
        )
        remaining = connection.execute(select(func.count()).where(Assignment.version_id == version_id)).scalar_one()
        if remaining == 0:
            self._set_status(connection, version_id, "archived")

    def _add_holder(
        self, target: _Target, label: str, actor: str, reason: str, details: dict[str, Any], forced: bool
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(Assignment).values(
                    model_id=target.model_id,
                    label=label,
                    kind="stage",
                    slot=target.version,
                    version_id=target.version_id,
                    assigned_at=utc_now(),
                    assigned_by=actor,
                )
            )
            self._after_move(connection, target, label, "stage", None, actor, reason, details, forced, "promoted")

    def _conflict(self, target: _Target, label: str, observed: int | None) -> PromotionConflict:
        with read_transaction(self.engine) as connection:
            holder = connection.execute(
                select(ModelVersionRow.version, Assignment.assigned_by, Assignment.assigned_at)
                .join(Assignment, Assignment.version_id == ModelVersionRow.id)
                .where(Assignment.model_id == target.model_id, Assignment.label == label, Assignment.slot == 0)
            ).first()
        seen = f"version {observed}" if observed is not None else "no holder"
        now = (
            f"it is now held by version {holder.version} (set by {holder.assigned_by} at "
            f"{as_utc(holder.assigned_at).isoformat(timespec='seconds')})"
            if holder
            else "it now has no holder"
        )
        return PromotionConflict(
            f"{label!r} of {target.name!r} changed while moving version {target.version} into it: expected {seen}, "
            f"but {now}; re-run to evaluate against the current holder"
        )

    def set_alias(
        self,
        ref: str | ModelRef,
        alias: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
        expected_holder: int | None = UNSET,
        baseline: gates.Baseline | None = None,
    ) -> PromotionResult:
        """Point a declared alias (e.g. champion) at a version, compare-and-set on its current target."""
        self._declared_alias(alias)
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        with read_transaction(self.engine) as connection:
            target = self._target(connection, parsed)
            current = self._single_holder(connection, target.model_id, target.name, alias)
        observed = (current.version if current else None) if expected_holder is UNSET else expected_holder
        if current is not None and current.version == target.version and expected_holder is UNSET:
            return PromotionResult(target.name, alias, target.version, target.version, changed=False)
        self._refuse_corrupt(self.resolve(ModelRef(target.name, version=target.version)))
        previous = self._move_single(target, alias, "alias", observed, actor or default_actor(), reason or "", {})
        return PromotionResult(target.name, alias, target.version, previous, changed=True)

    def remove_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Detach an alias from whatever version it points at (logged)."""
        self._declared_alias(alias)
        with self.engine.begin() as connection:
            model_id = self._model_id(connection, name)
            holder = self._single_holder(connection, model_id, name, alias)
            if holder is None:
                raise NotFoundError(f"{name}@{alias}: the alias points at no version")
            connection.execute(delete(Assignment).where(Assignment.model_id == model_id, Assignment.label == alias))
            self._log(
                connection,
                model_id,
                "alias_removed",
                actor or default_actor(),
                version=holder.version,
                label=alias,
                from_version=holder.version,
                reason=reason or "",
            )

    def _declared_alias(self, alias: str) -> None:
        if alias not in self.config.aliases:
            listing = ", ".join(self.config.aliases) or "none (add them under registry.aliases)"
            raise RegistryError(
                f"alias {alias!r} is not declared; declared aliases: {listing}"
                f"{_did_you_mean(alias, list(self.config.aliases))}"
            )

    # --- rollback ------------------------------------------------------------

    def rollback(
        self, name: str, label: str, *, actor: str | None = None, reason: str | None = None
    ) -> PromotionResult:
        """Return a single-holder stage (or an alias) to its previous holder, read from the event log."""
        kind = self._label_kind(label)
        actor = actor or default_actor()
        with read_transaction(self.engine) as connection:
            model_id = self._model_id(connection, name)
            current = self._single_holder(connection, model_id, name, label)
            target_version = self._previous_holder(connection, model_id, label, current.version if current else None)
            if target_version is None:
                raise RegistryError(f"{name}@{label}: the event log has no earlier holder to roll back to")
            found = self._target(connection, ModelRef(name, version=target_version))
        self._refuse_corrupt(self.resolve(ModelRef(name, version=target_version)))
        observed = current.version if current else None
        details = {"rolled_back_from": observed}
        self._move_single(
            found,
            label,
            kind,
            observed,
            actor,
            reason or f"rollback from version {observed}",
            details,
            event_kind="rolled_back",
        )
        return PromotionResult(name, label, target_version, observed, changed=True)

    def _label_kind(self, label: str) -> str:
        if label in self.config.aliases:
            return "alias"
        stage = self.stage(label)
        if not stage.single_holder:
            raise RegistryError(
                f"stage {label!r} has several holders (single_holder: false); rollback needs a single holder"
            )
        return "stage"

    def _previous_holder(self, connection: Connection, model_id: int, label: str, current: int | None) -> int | None:
        """Replay the label's moves as a stack (moves push, rollbacks pop), skipping deleted versions."""
        stack: list[int] = []
        for kind, from_version, to_version in connection.execute(
            select(Event.kind, Event.from_version, Event.to_version)
            .where(Event.model_id == model_id, Event.label == label, Event.kind.in_(LABEL_MOVES))
            .order_by(Event.id)
        ):
            if kind == "rolled_back" and stack and stack[-1] == from_version:
                stack.pop()
            if to_version is not None and (not stack or stack[-1] != to_version):
                stack.append(to_version)
        live = set(
            connection.execute(
                select(ModelVersionRow.version).where(
                    ModelVersionRow.model_id == model_id, ModelVersionRow.status != "deleted"
                )
            ).scalars()
        )
        return previous_in_stack(stack, live, current)

    # --- deletion ------------------------------------------------------------

    def delete_version(
        self, ref: str | ModelRef, *, actor: str | None = None, reason: str | None = None, force: bool = False
    ) -> ModelVersion:
        """Delete a version from listings (its artefacts go at the next `gc`); refuses a label holder unless forced."""
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        actor = actor or default_actor()
        record = self.resolve(parsed)
        held = record.stages + record.aliases
        if held and not force:
            raise RegistryError(f"{record.ref} holds {', '.join(held)}; move those first or delete with force")
        with self.engine.begin() as connection:
            target = self._target(connection, ModelRef(record.name, version=record.version))
            for label, kind in connection.execute(
                select(Assignment.label, Assignment.kind).where(Assignment.version_id == target.version_id)
            ).all():
                self._log(
                    connection,
                    target.model_id,
                    "archived" if kind == "stage" else "alias_removed",
                    actor,
                    version=target.version,
                    label=label,
                    from_version=target.version,
                    reason="version deleted",
                )
            connection.execute(delete(Assignment).where(Assignment.version_id == target.version_id))
            self._set_status(connection, target.version_id, "deleted")
            self._log(connection, target.model_id, "deleted", actor, version=target.version, reason=reason or "")
        return record

    # --- deployments ---------------------------------------------------------

    def record_deployment(
        self,
        ref: str | ModelRef,
        service: str,
        status: str,
        *,
        bento_tag: str | None = None,
        endpoint: str | None = None,
        actor: str | None = None,
    ) -> DeploymentRecord:
        """Record (or update) where a version runs; logged as a `deployed` event."""
        validate_name(service, "service name")
        if status not in DEPLOYMENT_STATUSES:
            raise RegistryError(
                f"deployment status {status!r} is not allowed; allowed: {', '.join(DEPLOYMENT_STATUSES)}"
            )
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        now = utc_now()
        with self.engine.begin() as connection:
            target = self._target(connection, parsed)
            values = {"bento_tag": bento_tag, "endpoint": endpoint, "status": status, "since": now}
            updated = connection.execute(
                update(Deployment)
                .where(Deployment.version_id == target.version_id, Deployment.service == service)
                .values(**values)
            ).rowcount
            if not updated:
                connection.execute(insert(Deployment).values(version_id=target.version_id, service=service, **values))
            self._log(
                connection,
                target.model_id,
                "deployed",
                actor or default_actor(),
                version=target.version,
                details={"service": service, "status": status, "bento_tag": bento_tag, "endpoint": endpoint},
            )
        return DeploymentRecord(target.name, target.version, service, bento_tag, endpoint, status, now)

    def deployments(self, name: str) -> list[DeploymentRecord]:
        with read_transaction(self.engine) as connection:
            model_id = self._model_id(connection, name)
            rows = connection.execute(
                select(
                    ModelVersionRow.version,
                    Deployment.service,
                    Deployment.bento_tag,
                    Deployment.endpoint,
                    Deployment.status,
                    Deployment.since,
                )
                .join(Deployment, Deployment.version_id == ModelVersionRow.id)
                .where(ModelVersionRow.model_id == model_id)
                .order_by(Deployment.id)
            ).all()
        return [
            DeploymentRecord(name, row.version, row.service, row.bento_tag, row.endpoint, row.status, as_utc(row.since))
            for row in rows
        ]

    # --- integrity -----------------------------------------------------------

    def load(self, ref: str | ModelRef, destination: str | Path | None = None) -> Path:
        """A local copy of the package, every file checked against the manifest; IntegrityError on a mismatch."""
        record = self.resolve(ref)
        self._check_manifest(record)
        target = (
            Path(destination)
            if destination is not None
            else self.cache_dir / record.name / (f"{record.version}-{record.manifest_sha256[:16]}")
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.parent / f".loading-{uuid.uuid4().hex}"
        try:
            self.store.fetch(record.object_key, list(record.files), scratch)
        except IntegrityError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise IntegrityError(
                f"{record.ref} failed verification: {exc}; run `mlops-declare registry verify`"
            ) from None
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return _install(scratch, target, record, replace=destination is None)

    def _refuse_corrupt(self, record: ModelVersion) -> None:
        """No stage is ever handed a version whose stored files fail their manifest, forced or not."""
        self._check_manifest(record)
        problems = self.store.problems(record.object_key, list(record.files))
        if problems:
            raise IntegrityError(
                f"{record.ref} cannot take a stage or alias: its artefacts fail verification: {'; '.join(problems)}"
            )

    def _check_manifest(self, record: ModelVersion) -> None:
        if manifest_digest(record.files) != record.manifest_sha256:
            raise IntegrityError(f"{record.ref}: the artefact rows do not match the recorded manifest digest")
        for entry in record.files:
            try:
                validate_artifact_path(entry.path)
            except BadReference as exc:
                raise IntegrityError(f"{record.ref}: unsafe path in the manifest: {exc}") from None

    def verify(self) -> VerifyReport:
        """Check every live version's stored files against its manifest; list orphaned store directories."""
        problems: list[tuple[str, str]] = []
        checked = 0
        referenced = set()
        for record in self._live_records():
            checked += 1
            referenced.add(record.object_key)
            try:
                self._check_manifest(record)
                problems += [
                    (record.ref, problem) for problem in self.store.problems(record.object_key, list(record.files))
                ]
            except (IntegrityError, BadReference) as exc:
                problems.append((record.ref, str(exc)))
        orphans = tuple(item.key for item in self.store.stored_objects() if item.key not in referenced)
        return VerifyReport(checked, tuple(problems), orphans)

    def _live_records(self) -> Iterator[ModelVersion]:
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
            records = [self._version_record(connection, _Target(*row)) for row in rows]
        yield from records

    def gc(self, min_age_seconds: float = DEFAULT_GC_MIN_AGE_SECONDS) -> GcReport:
        """Remove store directories no live version points at: killed registrations and deleted versions.

        Orphans younger than `min_age_seconds` are kept, since a registration may be between
        publishing its files and committing its row; pass 0 when no registration is running.
        """
        with read_transaction(self.engine) as connection:
            referenced = set(
                connection.execute(
                    select(ModelVersionRow.object_key).where(ModelVersionRow.status != "deleted")
                ).scalars()
            )
        removed: list[str] = []
        kept: list[str] = []
        for item in self.store.stored_objects():
            if item.key in referenced:
                continue
            old_enough = min_age_seconds <= 0 or (item.age_seconds is not None and item.age_seconds >= min_age_seconds)
            if old_enough:
                self.store.remove(item.key)
                removed.append(item.key)
            else:
                kept.append(item.key)
        return GcReport(tuple(removed), tuple(kept))

    # --- helpers -------------------------------------------------------------

    def _set_status(self, connection: Connection, version_id: int, status: str) -> None:
        connection.execute(update(ModelVersionRow).where(ModelVersionRow.id == version_id).values(status=status))

    def _log(
        self,
        connection: Connection,
        model_id: int,
        kind: str,
        actor: str,
        *,
        version: int | None = None,
        label: str | None = None,
        from_version: int | None = None,
        to_version: int | None = None,
        decision: str | None = None,
        forced: bool = False,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        connection.execute(
            insert(Event).values(
                model_id=model_id,
                kind=kind,
                version=version,
                label=label,
                from_version=from_version,
                to_version=to_version,
                decision=decision,
                forced=forced,
                actor=actor[:128],
                reason=reason,
                details=dict(details or {}),
                created_at=utc_now(),
            )
        )


class _Conflict(Exception):
    """Internal: the compare-and-set matched no row."""


def previous_in_stack(stack: Sequence[int], live: set[int], current: int | None) -> int | None:
    """The holder before `current` in a label's stack of holders, ignoring versions no longer live."""
    collapsed: list[int] = []
    for version in stack:
        if version in live and (not collapsed or collapsed[-1] != version):
            collapsed.append(version)
    if current is not None and collapsed and collapsed[-1] == current:
        collapsed.pop()
    return collapsed[-1] if collapsed else None


def _install(scratch: Path, target: Path, record: ModelVersion, replace: bool) -> Path:
    """Move a verified copy into place, unless an intact copy is already there; only cache copies are replaced."""
    if target.exists():
        if _intact(target, record):
            shutil.rmtree(scratch, ignore_errors=True)
            return target
        if not replace and any(target.iterdir()):
            shutil.rmtree(scratch, ignore_errors=True)
            raise RegistryError(f"cannot load {record.ref} into {str(target)!r}: the directory holds other files")
        shutil.rmtree(target)
    try:
        os.replace(scratch, target)
    except OSError:
        # Another loader installed the same version first; its copy was verified the same way.
        shutil.rmtree(scratch, ignore_errors=True)
        if not _intact(target, record):
            raise IntegrityError(
                f"{record.ref}: the local copy at {str(target)!r} does not match its manifest"
            ) from None
    return target


def _intact(directory: Path, record: ModelVersion) -> bool:
    expected = {entry.path: (entry.sha256, entry.size) for entry in record.files}
    found = {
        path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file() or path.is_symlink()
    }
    if found != set(expected):
        return False
    for path, (sha256, size) in expected.items():
        file = directory / path
        if file.is_symlink():
            return False
        with file.open("rb") as stream:
            if sha256_of_stream(stream) != (sha256, size):
                return False
    return True


def _history_event(name: str, row: Row[Any]) -> HistoryEvent:
    return HistoryEvent(
        id=row.id,
        name=name,
        kind=row.kind,
        version=row.version,
        label=row.label,
        from_version=row.from_version,
        to_version=row.to_version,
        decision=row.decision,
        forced=row.forced,
        actor=row.actor,
        reason=row.reason,
        details=row.details or {},
        created_at=as_utc(row.created_at),
    )


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
