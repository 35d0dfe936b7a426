"""Moving labels: gated promotion, aliases, rollback and deletion, each a compare-and-set logged with its gate.

Every move of a stage or alias is a compare-and-set on the holder the caller saw, and is recorded
in the append-only event log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

from mlops_declare.config.messages import suggest
from mlops_declare.config.registry import RegistryConfig, Stage
from mlops_declare.registry import gates
from mlops_declare.registry.database import read_transaction
from mlops_declare.registry.errors import GateRefused, NotFoundError, PromotionConflict, RegistryError
from mlops_declare.registry.events import default_actor, log_event
from mlops_declare.registry.gates import GateDecision
from mlops_declare.registry.models import Assignment, Event, ModelVersionRow
from mlops_declare.registry.queries import Queries, Target, as_ref
from mlops_declare.registry.records import ModelVersion, PromotionResult, as_utc, utc_now
from mlops_declare.registry.refs import ModelRef
from mlops_declare.registry.storage import Storage

LABEL_MOVES = ("promoted", "rolled_back", "alias_set")


class _Unset:
    """Marker for "compare against the holder seen while evaluating the gate"."""


UNSET: Any = _Unset()


class _Conflict(Exception):
    """Internal: the compare-and-set matched no row."""


class Moves:
    """Stage and alias moves through gates, rollback and deletion."""

    def __init__(self, engine: Engine, config: RegistryConfig, queries: Queries, storage: Storage) -> None:
        self.engine = engine
        self.config = config
        self.queries = queries
        self.storage = storage

    # --- gates ---------------------------------------------------------------

    def stage(self, name: str) -> Stage:
        """The declared stage `name`; RegistryError listing the declared ones otherwise."""
        for stage in self.config.stages:
            if stage.name == name:
                return stage
        declared = [stage.name for stage in self.config.stages]
        listing = ", ".join(declared) if declared else "none (add them under registry.stages)"
        raise RegistryError(f"stage {name!r} is not declared; declared stages: {listing}{suggest(name, declared)}")

    def evaluate_gate(
        self, ref: str | ModelRef, stage: str, *, actor: str | None = None, baseline: gates.Baseline | None = None
    ) -> GateDecision:
        """Evaluate the stage's gate for a version against the current holder, and log BLESSED/NOT_BLESSED."""
        decision, _ = self._evaluate_and_log(ref, self.stage(stage), actor or default_actor(), baseline)
        return decision

    def _evaluate_and_log(
        self, ref: str | ModelRef, stage: Stage, actor: str, baseline: gates.Baseline | None = None
    ) -> tuple[GateDecision, Target]:
        with self.engine.begin() as connection:
            target = self.queries.target(connection, as_ref(ref))
            candidate = self._candidate(connection, target)
            if stage.single_holder:
                holder_target = self.queries.single_holder(connection, target.model_id, target.name, stage.name)
            else:
                holder_target = self._newest_holder(connection, target, stage.name)
            holder = self._candidate(connection, holder_target) if holder_target else None
            if holder is not None and baseline is not None and baseline.version == holder.version:
                # The holder re-scored on the candidate's data replaces its recorded numbers.
                holder = gates.Candidate(holder.version, baseline.metrics, baseline.datasets, holder.stages)
            decision = gates.evaluate(target.name, stage, candidate, holder)
            log_event(
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

    def _candidate(self, connection: Connection, target: Target) -> gates.Candidate:
        record = self.queries.version_record(connection, target)
        return gates.Candidate(target.version, record.metrics, record.lineage.datasets, record.stages)

    def _newest_holder(self, connection: Connection, target: Target, label: str) -> Target | None:
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
        return Target(target.model_id, target.name, row.id, row.version, row.status) if row else None

    # --- promotion -----------------------------------------------------------

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
        """Move a version into a stage through its gate; see `Registry.promote`."""
        declared = self.stage(stage)
        actor = actor or default_actor()
        if force and not (reason and reason.strip()):
            raise RegistryError(
                f"forcing {ref} into {stage!r} needs a reason (--reason); it is written to the audit log"
            )
        current = self.queries.resolve(ref)
        if stage in current.stages:
            return PromotionResult(current.name, stage, current.version, current.version, changed=False)
        self.storage.refuse_corrupt(current)
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

    def _move_single(  # noqa: PLR0913 - budget: one of the functions above the argument limit when it was set (0.3.0); do not add more
        self,
        target: Target,
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
        self, connection: Connection, target: Target, label: str, kind: str, observed: int | None, actor: str
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

    def _after_move(  # noqa: PLR0913 - budget: one of the functions above the argument limit when it was set (0.3.0); do not add more
        self,
        connection: Connection,
        target: Target,
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
        log_event(
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
        _set_status(connection, target.version_id, "ready")
        if kind == "stage" and observed is not None and observed != target.version:
            self._archive(connection, target, label, observed, actor, reason)

    def _archive(
        self, connection: Connection, target: Target, label: str, version: int, actor: str, reason: str
    ) -> None:
        """Record that `version` left `label`; it becomes archived when it holds nothing else."""
        version_id = connection.execute(
            select(ModelVersionRow.id).where(
                ModelVersionRow.model_id == target.model_id, ModelVersionRow.version == version
            )
        ).scalar_one()
        log_event(
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
            _set_status(connection, version_id, "archived")

    def _add_holder(
        self, target: Target, label: str, actor: str, reason: str, details: dict[str, Any], forced: bool
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

    def _conflict(self, target: Target, label: str, observed: int | None) -> PromotionConflict:
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

    # --- aliases -------------------------------------------------------------

    def set_alias(
        self,
        ref: str | ModelRef,
        alias: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
        expected_holder: int | None = UNSET,
    ) -> PromotionResult:
        """Point a declared alias (e.g. champion) at a version, compare-and-set on its current target."""
        self._declared_alias(alias)
        with read_transaction(self.engine) as connection:
            target = self.queries.target(connection, as_ref(ref))
            current = self.queries.single_holder(connection, target.model_id, target.name, alias)
        observed = (current.version if current else None) if expected_holder is UNSET else expected_holder
        if current is not None and current.version == target.version and expected_holder is UNSET:
            return PromotionResult(target.name, alias, target.version, target.version, changed=False)
        self.storage.refuse_corrupt(self.queries.resolve(ModelRef(target.name, version=target.version)))
        previous = self._move_single(target, alias, "alias", observed, actor or default_actor(), reason or "", {})
        return PromotionResult(target.name, alias, target.version, previous, changed=True)

    def remove_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Detach an alias from whatever version it points at (logged)."""
        self._declared_alias(alias)
        with self.engine.begin() as connection:
            model_id = self.queries.model_id(connection, name)
            holder = self.queries.single_holder(connection, model_id, name, alias)
            if holder is None:
                raise NotFoundError(f"{name}@{alias}: the alias points at no version")
            connection.execute(delete(Assignment).where(Assignment.model_id == model_id, Assignment.label == alias))
            log_event(
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
                f"{suggest(alias, list(self.config.aliases))}"
            )

    # --- rollback ------------------------------------------------------------

    def rollback(
        self, name: str, label: str, *, actor: str | None = None, reason: str | None = None
    ) -> PromotionResult:
        """Return a single-holder stage (or an alias) to its previous holder, read from the event log."""
        kind = self._label_kind(label)
        actor = actor or default_actor()
        with read_transaction(self.engine) as connection:
            model_id = self.queries.model_id(connection, name)
            current = self.queries.single_holder(connection, model_id, name, label)
            target_version = self._previous_holder(connection, model_id, label, current.version if current else None)
            if target_version is None:
                raise RegistryError(f"{name}@{label}: the event log has no earlier holder to roll back to")
            found = self.queries.target(connection, ModelRef(name, version=target_version))
        self.storage.refuse_corrupt(self.queries.resolve(ModelRef(name, version=target_version)))
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
        parsed = as_ref(ref)
        actor = actor or default_actor()
        record = self.queries.resolve(parsed)
        held = record.stages + record.aliases
        if held and not force:
            raise RegistryError(f"{record.ref} holds {', '.join(held)}; move those first or delete with force")
        with self.engine.begin() as connection:
            target = self.queries.target(connection, ModelRef(record.name, version=record.version))
            for label, kind in connection.execute(
                select(Assignment.label, Assignment.kind).where(Assignment.version_id == target.version_id)
            ).all():
                log_event(
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
            _set_status(connection, target.version_id, "deleted")
            log_event(connection, target.model_id, "deleted", actor, version=target.version, reason=reason or "")
        return record


def _set_status(connection: Connection, version_id: int, status: str) -> None:
    connection.execute(update(ModelVersionRow).where(ModelVersionRow.id == version_id).values(status=status))


def previous_in_stack(stack: Sequence[int], live: set[int], current: int | None) -> int | None:
    """The holder before `current` in a label's stack of holders, ignoring versions no longer live."""
    collapsed: list[int] = []
    for version in stack:
        if version in live and (not collapsed or collapsed[-1] != version):
            collapsed.append(version)
    if current is not None and collapsed and collapsed[-1] == current:
        collapsed.pop()
    return collapsed[-1] if collapsed else None
