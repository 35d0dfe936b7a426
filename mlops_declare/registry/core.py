"""The Registry facade: opening (`open_registry`: writable, or read-only for replicas and monitors) and
one entry per operation.

The work lives behind it along three seams: `queries` (resolve, listings, labels, history),
`moves` (gated compare-and-set promotion, aliases, rollback, deletion), `storage` (registration,
verified loads, verify, gc), plus `deployments` (the deployment records). Writes happen in short
transactions; every move is recorded in the append-only event log in the same transaction.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from mlops_declare.config.registry import RegistryConfig, Stage
from mlops_declare.registry import gates
from mlops_declare.registry.artifacts import ArtifactStore
from mlops_declare.registry.database import (
    check_schema_is_current,
    create_registry_engine,
    sqlite_path,
    upgrade_to_head,
)
from mlops_declare.registry.deployments import Deployments
from mlops_declare.registry.errors import RegistryError
from mlops_declare.registry.events import ACTOR_VARIABLE, default_actor
from mlops_declare.registry.gates import GateDecision
from mlops_declare.registry.moves import UNSET, Moves, previous_in_stack
from mlops_declare.registry.queries import Queries
from mlops_declare.registry.records import (
    DeploymentRecord,
    GcReport,
    HistoryEvent,
    Lineage,
    ModelSummary,
    ModelVersion,
    PromotionResult,
    VerifyReport,
)
from mlops_declare.registry.refs import ModelRef
from mlops_declare.registry.storage import DEFAULT_GC_MIN_AGE_SECONDS, Storage

__all__ = [
    "ACTOR_VARIABLE",
    "DEFAULT_GC_MIN_AGE_SECONDS",
    "Registry",
    "default_actor",
    "open_registry",
    "previous_in_stack",
    "resolve_store_urls",
]


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


def open_registry(
    config: RegistryConfig,
    project_root: str | Path,
    *,
    read_only: bool,
    cache_dir: str | Path | None = None,
) -> Registry:
    """The registry a project's `registry` config names, relative paths against `project_root`.

    Every caller says which it needs: `read_only=True` (replicas, monitors, anything that only
    reads) never migrates or writes and needs a database at the package's schema revision;
    `read_only=False` brings the schema to head first. `cache_dir` holds verified local copies of
    loaded packages (default: a folder per artefact store under the system's temporary folder).
    """
    store_url, artifact_url = resolve_store_urls(config, project_root)
    return Registry.open(store_url, artifact_url, config, cache_dir, read_only=read_only)


class Registry:
    """One registry: a database of records and an artefact store. Open it with `open_registry`
    (a project's config) or `Registry.open` (database and artefact-store URLs)."""

    def __init__(
        self,
        engine: Engine,
        store: ArtifactStore,
        config: RegistryConfig,
        cache_dir: Path,
        read_only: bool = False,
    ) -> None:
        self.engine = engine
        self.store = store
        self.config = config
        self.cache_dir = cache_dir
        self.read_only = read_only
        self.queries = Queries(engine, config)
        self.storage = Storage(engine, store, cache_dir, self.queries)
        self.moves = Moves(engine, config, self.queries, self.storage)
        self.deployment_log = Deployments(engine, self.queries)

    # --- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        store_url: str,
        artifact_url: str,
        registry_config: RegistryConfig | None = None,
        cache_dir: str | Path | None = None,
        *,
        read_only: bool = False,
    ) -> Registry:
        """Connect, upgrade the schema to head, and open the artefact store.

        With `read_only=True` (serving replicas, monitors) nothing is migrated and nothing written:
        the database must already be at the package's schema revision (RegistryError naming
        `mlops-declare registry upgrade` otherwise), and every write method raises RegistryError.
        """
        engine = create_registry_engine(store_url, read_only=read_only)
        try:
            if read_only:
                check_schema_is_current(engine)
            else:
                upgrade_to_head(engine)
            store = ArtifactStore(artifact_url)
        except BaseException:
            engine.dispose()
            raise
        if cache_dir is None:
            tag = hashlib.sha256(artifact_url.encode("utf-8")).hexdigest()[:16]
            cache_dir = Path(tempfile.gettempdir()) / "mlops-declare-registry-cache" / tag
        return cls(engine, store, registry_config or RegistryConfig(), Path(cache_dir), read_only=read_only)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _writable(self, operation: str) -> None:
        if self.read_only:
            raise RegistryError(
                f"{operation} writes to the registry, but this registry was opened read-only "
                "(read_only=True); open a writable Registry for it"
            )

    # --- storage -------------------------------------------------------------

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
        self._writable("register")
        return self.storage.register(name, package_dir, metrics, lineage, actor=actor, description=description)

    def load(self, ref: str | ModelRef, destination: str | Path | None = None) -> Path:
        """A local copy of the package, every file checked against the manifest; IntegrityError on a mismatch."""
        return self.storage.load(ref, destination)

    def verify(self) -> VerifyReport:
        """Check every live version's stored files against its manifest; list orphaned store directories."""
        return self.storage.verify()

    def gc(self, min_age_seconds: float = DEFAULT_GC_MIN_AGE_SECONDS) -> GcReport:
        """Remove store directories no live version points at: killed registrations and deleted versions.

        Orphans younger than `min_age_seconds` are kept, since a registration may be between
        publishing its files and committing its row; pass 0 when no registration is running.
        """
        self._writable("gc")
        return self.storage.gc(min_age_seconds)

    # --- queries -------------------------------------------------------------

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference names (`digits@production`, `digits:7`, `digits:latest`)."""
        return self.queries.resolve(ref)

    def list_models(self) -> list[ModelSummary]:
        """Every model with its newest live version and label holders."""
        return self.queries.list_models()

    def describe_model(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> ModelSummary:
        """Set a model's description and/or replace its tags (string keys and values)."""
        self._writable("describe_model")
        return self.queries.describe_model(name, description, tags)

    def labels(self, name: str) -> dict[str, tuple[int, ...]]:
        """Stage or alias -> the version numbers holding it."""
        return self.queries.labels(name)

    def list_versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        return self.queries.list_versions(name, include_deleted)

    def history(self, name: str) -> list[HistoryEvent]:
        """The model's event log, oldest first."""
        return self.queries.history(name)

    # --- moves ---------------------------------------------------------------

    def stage(self, name: str) -> Stage:
        """The declared stage `name`; RegistryError listing the declared ones otherwise."""
        return self.moves.stage(name)

    def evaluate_gate(
        self, ref: str | ModelRef, stage: str, *, actor: str | None = None, baseline: gates.Baseline | None = None
    ) -> GateDecision:
        """Evaluate the stage's gate for a version against the current holder, and log BLESSED/NOT_BLESSED."""
        self._writable("evaluate_gate")
        return self.moves.evaluate_gate(ref, stage, actor=actor, baseline=baseline)

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
        self._writable("promote")
        return self.moves.promote(
            ref,
            stage,
            actor=actor,
            force=force,
            reason=reason,
            expected_holder=expected_holder,
            baseline=baseline,
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
        """Point a declared alias (e.g. champion) at a version, compare-and-set on its current target.

        Aliases have no gate, so `baseline` is accepted for symmetry with `promote` and not used.
        """
        self._writable("set_alias")
        return self.moves.set_alias(ref, alias, actor=actor, reason=reason, expected_holder=expected_holder)

    def remove_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Detach an alias from whatever version it points at (logged)."""
        self._writable("remove_alias")
        self.moves.remove_alias(name, alias, actor=actor, reason=reason)

    def rollback(
        self, name: str, label: str, *, actor: str | None = None, reason: str | None = None
    ) -> PromotionResult:
        """Return a single-holder stage (or an alias) to its previous holder, read from the event log."""
        self._writable("rollback")
        return self.moves.rollback(name, label, actor=actor, reason=reason)

    def delete_version(
        self, ref: str | ModelRef, *, actor: str | None = None, reason: str | None = None, force: bool = False
    ) -> ModelVersion:
        """Delete a version from listings (its artefacts go at the next `gc`); refuses a label holder unless forced."""
        self._writable("delete_version")
        return self.moves.delete_version(ref, actor=actor, reason=reason, force=force)

    # --- deployments ---------------------------------------------------------

    def record_deployment(
        self,
        ref: str | ModelRef,
        target: str,
        status: str,
        *,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> DeploymentRecord:
        """Append a deployment record: `ref`'s version reached `status` at `target` (logged as a `deployed` event).

        `target` is `bento:<tag>` or `service:<name>@<host>`; `status` one of `built`, `serving`,
        `refused`, `stopped` (`records.DeploymentStatus`); `details` is plain JSON (an `endpoint`
        string there is also kept in `registry_deployments`). This is a write: a replica that serves
        from a read-only registry opens a short-lived writable one to record its swaps.
        """
        self._writable("record_deployment")
        return self.deployment_log.record(ref, target, status, actor=actor, details=details)

    def deployments(self, name: str, limit: int | None = None) -> list[DeploymentRecord]:
        """The model's deployment records (builds, swaps, refusals, stops), newest first."""
        return self.deployment_log.listing(name, limit)
