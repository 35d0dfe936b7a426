"""A Hypothesis state machine over register / evaluate / promote / alias / rollback / delete.

It keeps its own model of who should hold what and checks, after every step, that the real
registry agrees, that single-holder stages and aliases have at most one holder, that no label
points at a deleted version, and that replaying the event log reproduces the current state.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from mlops_declare.registry import GateRefused, Registry, RegistryError
from mlops_declare.registry.models import Assignment, ModelVersionRow, RegisteredModel
from tests.unit.registry.support import Backend, make_package

ACCURACY = st.integers(min_value=40, max_value=100).map(lambda value: value / 100)
LABELS = ("production", "champion", "challenger")
"""Single-holder labels; staging is single-holder too, production requires it."""


class RegistryModel:
    """What the registry should look like: live versions, holders, and each label's stack of holders."""

    def __init__(self) -> None:
        self.accuracy: dict[int, float] = {}
        self.deleted: set[int] = set()
        self.holder: dict[str, int | None] = {"staging": None, "production": None, "champion": None, "challenger": None}
        self.stack: dict[str, list[int]] = {label: [] for label in self.holder}

    def live(self) -> list[int]:
        return sorted(v for v in self.accuracy if v not in self.deleted)

    def labels_of(self, version: int) -> list[str]:
        return [label for label, holder in self.holder.items() if holder == version]

    def blessed(self, version: int, stage: str) -> bool:
        accuracy = self.accuracy[version]
        if stage == "staging":
            return accuracy >= 0.5
        holder = self.holder["production"]
        improves = holder is None or accuracy >= self.accuracy[holder]
        return self.holder["staging"] == version and accuracy >= 0.6 and improves

    def move(self, label: str, version: int) -> None:
        self.holder[label] = version
        if not self.stack[label] or self.stack[label][-1] != version:
            self.stack[label].append(version)

    def rollback_target(self, label: str) -> int | None:
        collapsed: list[int] = []
        for version in self.stack[label]:
            if version not in self.deleted and (not collapsed or collapsed[-1] != version):
                collapsed.append(version)
        if collapsed and collapsed[-1] == self.holder[label]:
            collapsed.pop()
        return collapsed[-1] if collapsed else None

    def rolled_back(self, label: str, target: int) -> None:
        current = self.holder[label]
        if current is not None and self.stack[label] and self.stack[label][-1] == current:
            self.stack[label].pop()
        self.move(label, target)


class RegistryMachine(RuleBasedStateMachine):
    registry: Registry
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.name = f"m{uuid.uuid4().hex[:12]}"
        self.model = RegistryModel()
        self.counter = itertools.count()

    def version_of(self, pick: int) -> int:
        live = self.model.live()
        return live[pick % len(live)]

    @rule(accuracy=ACCURACY)
    def register(self, accuracy: float) -> None:
        package = make_package(self.workdir / f"{self.name}-{next(self.counter)}", accuracy=accuracy, weights=b"w")
        version = self.registry.register(self.name, package).version
        assert version == len(self.model.accuracy) + 1, "versions are handed out monotonically"
        self.model.accuracy[version] = accuracy

    @precondition(lambda self: self.model.live())
    @rule(pick=st.integers(0, 1000), stage=st.sampled_from(["staging", "production"]))
    def evaluate(self, pick: int, stage: str) -> None:
        version = self.version_of(pick)
        decision = self.registry.evaluate_gate(f"{self.name}:{version}", stage)
        assert decision.blessed == self.model.blessed(version, stage), decision.summary()

    @precondition(lambda self: self.model.live())
    @rule(pick=st.integers(0, 1000), stage=st.sampled_from(["staging", "production"]), force=st.booleans())
    def promote(self, pick: int, stage: str, force: bool) -> None:
        version = self.version_of(pick)
        if self.model.holder[stage] == version:
            assert not self.registry.promote(f"{self.name}:{version}", stage).changed
            return
        blessed = self.model.blessed(version, stage)
        try:
            result = self.registry.promote(
                f"{self.name}:{version}", stage, force=force, reason="test" if force else None
            )
        except GateRefused:
            assert not blessed and not force
            return
        assert blessed or force
        assert result.forced == (force and not blessed)
        self.model.move(stage, version)

    @precondition(lambda self: self.model.live())
    @rule(pick=st.integers(0, 1000), alias=st.sampled_from(["champion", "challenger"]))
    def set_alias(self, pick: int, alias: str) -> None:
        version = self.version_of(pick)
        self.registry.set_alias(f"{self.name}:{version}", alias)
        self.model.move(alias, version)

    @precondition(lambda self: self.model.accuracy)
    @rule(label=st.sampled_from(LABELS))
    def rollback(self, label: str) -> None:
        target = self.model.rollback_target(label)
        if target is None:
            with pytest.raises(RegistryError, match="no earlier holder"):
                self.registry.rollback(self.name, label)
            return
        assert self.registry.rollback(self.name, label).version == target
        self.model.rolled_back(label, target)

    @precondition(lambda self: self.model.live())
    @rule(pick=st.integers(0, 1000), force=st.booleans())
    def delete(self, pick: int, force: bool) -> None:
        version = self.version_of(pick)
        held = self.model.labels_of(version)
        if held and not force:
            with pytest.raises(RegistryError, match="holds"):
                self.registry.delete_version(f"{self.name}:{version}")
            return
        self.registry.delete_version(f"{self.name}:{version}", force=force, reason="test")
        self.model.deleted.add(version)
        for label in held:
            self.model.holder[label] = None

    @invariant()
    def holders_match_the_model(self) -> None:
        if not self.model.accuracy:
            return
        expected = {label: (holder,) for label, holder in self.model.holder.items() if holder is not None}
        assert self.registry.labels(self.name) == expected

    @invariant()
    def one_holder_per_label_and_only_live_versions(self) -> None:
        with self.registry.engine.connect() as connection:
            model_id = connection.execute(select(RegisteredModel.id).where(RegisteredModel.name == self.name)).scalar()
            if model_id is None:
                return
            counts = connection.execute(
                select(Assignment.label, func.count()).where(Assignment.model_id == model_id).group_by(Assignment.label)
            ).all()
            assert all(count == 1 for _, count in counts), counts
            dangling = connection.execute(
                select(func.count())
                .select_from(Assignment)
                .join(ModelVersionRow, ModelVersionRow.id == Assignment.version_id)
                .where(Assignment.model_id == model_id, ModelVersionRow.status == "deleted")
            ).scalar()
            assert dangling == 0

    @invariant()
    def history_replays_to_the_current_state(self) -> None:
        if not self.model.accuracy:
            return
        holders: dict[str, int | None] = {}
        status: dict[int, str] = {}
        for event in self.registry.history(self.name):
            if event.kind == "registered":
                status[event.version or 0] = "live"
            elif event.kind == "deleted":
                status[event.version or 0] = "deleted"
            elif event.kind in ("promoted", "rolled_back", "alias_set"):
                holders[event.label or ""] = event.to_version
            elif event.kind in ("archived", "alias_removed") and event.to_version is None:
                holders[event.label or ""] = None
        assert {label: (v,) for label, v in holders.items() if v is not None} == self.registry.labels(self.name)
        live = [version for version, state in sorted(status.items()) if state == "live"]
        assert live == [v.version for v in self.registry.list_versions(self.name)] == self.model.live()


@pytest.mark.slow
def test_registry_state_machine(backend: Backend, tmp_path: Path) -> None:
    registry = backend.open()
    RegistryMachine.registry = registry
    RegistryMachine.workdir = tmp_path
    try:
        run_state_machine_as_test(
            RegistryMachine,
            settings=settings(
                max_examples=20,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        registry.close()


def test_model_rollback_agrees_with_the_registry_helper() -> None:
    from mlops_declare.registry.core import previous_in_stack

    model: Any = RegistryModel()
    model.stack["production"] = [1, 2, 3, 2]
    model.holder["production"] = 2
    model.deleted = {3}
    assert model.rollback_target("production") == previous_in_stack([1, 2, 3, 2], {1, 2}, 2) == 1
