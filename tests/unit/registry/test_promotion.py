"""Gated compare-and-set promotion, aliases, rollback from the event log, history and deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from mlops_declare.config.registry import RegistryConfig
from mlops_declare.registry import (
    GateRefused,
    IntegrityError,
    NotFoundError,
    PromotionConflict,
    Registry,
    RegistryError,
)
from mlops_declare.registry.database import head_revision
from mlops_declare.registry.models import Event
from tests.unit.registry.support import Backend


def staged(registry: Registry, packages: Any, accuracy: float) -> str:
    """Register a version and put it in staging; returns its ref."""
    ref = registry.register("digits", packages(accuracy)).ref
    registry.promote(ref, "staging", actor="ci")
    return ref


def kinds(registry: Registry, name: str = "digits") -> list[str]:
    return [event.kind for event in registry.history(name)]


def test_first_model_enters_production_through_its_gate(registry: Registry, packages: Any) -> None:
    ref = staged(registry, packages, 0.9)
    result = registry.promote(ref, "production", actor="alice", reason="first release")
    assert result.changed and result.previous is None and not result.forced
    assert result.decision is not None and result.decision.blessed
    assert registry.resolve("digits@production").version == 1
    promoted = registry.history("digits")[-1]
    assert (promoted.kind, promoted.actor, promoted.reason, promoted.label) == (
        "promoted",
        "alice",
        "first release",
        "production",
    )
    assert promoted.decision == "BLESSED"


def test_a_worse_version_is_refused_with_the_numbers_and_the_refusal_is_logged(
    registry: Registry, packages: Any
) -> None:
    registry.promote(staged(registry, packages, 0.92), "production")
    worse = staged(registry, packages, 0.90)
    with pytest.raises(GateRefused, match=r"(?s)digits:2 may not enter 'production'.*improvement -0\.02") as refused:
        registry.promote(worse, "production", actor="bob")
    assert not refused.value.decision.blessed  # type: ignore[attr-defined]
    assert registry.resolve("digits@production").version == 1
    evaluation = registry.history("digits")[-1]
    assert (evaluation.kind, evaluation.decision, evaluation.actor) == ("evaluated", "NOT_BLESSED", "bob")
    assert evaluation.from_version == 1 and evaluation.to_version == 2
    improvement = next(c for c in evaluation.details["checks"] if c["condition"] == "improvement")
    assert (improvement["value"], improvement["baseline_value"]) == (0.90, 0.92)


def test_production_requires_staging(registry: Registry, packages: Any) -> None:
    ref = registry.register("digits", packages(0.99)).ref
    with pytest.raises(GateRefused, match="does not hold 'staging'"):
        registry.promote(ref, "production")


def test_single_holder_archives_the_previous_holder_in_the_same_move(registry: Registry, packages: Any) -> None:
    registry.promote(staged(registry, packages, 0.90), "production")
    better = staged(registry, packages, 0.95)  # staging is single-holder too: version 1 leaves it
    result = registry.promote(better, "production", actor="carol")
    assert result.previous == 1
    assert registry.labels("digits") == {"production": (2,), "staging": (2,)}
    assert registry.resolve("digits:1").status == "archived"
    assert registry.resolve("digits:2").status == "ready"
    last_two = registry.history("digits")[-2:]
    assert [(e.kind, e.version, e.from_version, e.to_version) for e in last_two] == [
        ("promoted", 2, 1, 2),
        ("archived", 1, 1, 2),
    ]


def test_force_needs_a_reason_and_is_logged_as_forced(registry: Registry, packages: Any) -> None:
    registry.promote(staged(registry, packages, 0.95), "production")
    worse = staged(registry, packages, 0.80)
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.promote(worse, "production", force=True)
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.promote(worse, "production", force=True, reason="   ")
    result = registry.promote(worse, "production", force=True, reason="rollback of a data bug", actor="dave")
    assert result.forced and result.changed
    promoted = [e for e in registry.history("digits") if e.kind == "promoted"][-1]
    assert promoted.forced and promoted.decision == "NOT_BLESSED" and promoted.reason == "rollback of a data bug"
    assert promoted.details["forced"] is True


def test_forcing_a_blessed_version_is_not_recorded_as_forced(registry: Registry, packages: Any) -> None:
    result = registry.promote(staged(registry, packages, 0.9), "production", force=True, reason="habit")
    assert not result.forced


def test_promoting_the_holder_again_changes_nothing(registry: Registry, packages: Any) -> None:
    ref = staged(registry, packages, 0.9)
    before = len(registry.history("digits"))
    assert not registry.promote(ref, "staging").changed
    assert len(registry.history("digits")) == before


def test_undeclared_stages_are_refused_with_a_suggestion(registry: Registry, packages: Any) -> None:
    ref = registry.register("digits", packages()).ref
    with pytest.raises(RegistryError, match=r"stage 'prodution' is not declared.*did you mean 'production'"):
        registry.promote(ref, "prodution")


def test_compare_and_set_conflict_names_the_current_holder(registry: Registry, packages: Any) -> None:
    registry.promote(staged(registry, packages, 0.90), "production", actor="erin")
    candidate = registry.register("digits", packages(0.95)).ref
    registry.promote(candidate, "staging")
    # A promoter that read "production is empty" before erin's move loses the compare-and-set.
    with pytest.raises(PromotionConflict, match=r"expected no holder, but it is now held by version 1 .set by erin"):
        registry.promote(candidate, "production", expected_holder=None)
    assert registry.resolve("digits@production").version == 1
    third = staged(registry, packages, 0.97)
    with pytest.raises(PromotionConflict, match="expected version 2, but it is now held by version 1"):
        registry.promote(third, "production", expected_holder=2)
    assert registry.promote(third, "production", expected_holder=1).previous == 1


def test_multi_holder_stages(backend: Backend, packages: Any) -> None:
    config = RegistryConfig.model_validate(
        {
            "stages": [
                {
                    "name": "canary",
                    "single_holder": False,
                    "gate": {"thresholds": [{"metric": "accuracy", "min": 0.5, "min_improvement": 0.0}]},
                }
            ],
        }
    )
    with backend.open(config) as registry:
        for accuracy in (0.7, 0.8):
            registry.promote(registry.register("digits", packages(accuracy)).ref, "canary")
        assert registry.labels("digits") == {"canary": (1, 2)}
        assert registry.resolve("digits@canary").version == 2  # the newest holder
        worse = registry.register("digits", packages(0.75)).ref
        with pytest.raises(GateRefused, match="holder version 2"):
            registry.promote(worse, "canary")
        with pytest.raises(RegistryError, match="several holders"):
            registry.rollback("digits", "canary")


def test_aliases_move_between_versions(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages(0.9))
    registry.register("digits", packages(0.8))
    assert registry.set_alias("digits:1", "champion", actor="x").previous is None
    registry.set_alias("digits:2", "challenger")
    assert registry.resolve("digits@champion").version == 1
    assert registry.set_alias("digits:2", "champion").previous == 1
    assert registry.labels("digits") == {"champion": (2,), "challenger": (2,)}
    assert not registry.set_alias("digits:2", "champion").changed
    with pytest.raises(RegistryError, match=r"alias 'champ' is not declared.*did you mean 'champion'"):
        registry.set_alias("digits:1", "champ")
    registry.remove_alias("digits", "challenger", reason="done")
    with pytest.raises(NotFoundError):
        registry.resolve("digits@challenger")
    with pytest.raises(PromotionConflict, match="expected version 1, but it is now held by version 2"):
        registry.set_alias("digits:1", "champion", expected_holder=1)
    assert "alias_set" in kinds(registry) and "alias_removed" in kinds(registry)


def test_rollback_walks_back_through_previous_holders(registry: Registry, packages: Any) -> None:
    for accuracy in (0.90, 0.92, 0.94):
        registry.promote(staged(registry, packages, accuracy), "production")
    assert registry.resolve("digits@production").version == 3
    first = registry.rollback("digits", "production", actor="oncall", reason="latency regression")
    assert (first.previous, first.version) == (3, 2)
    assert registry.resolve("digits@production").version == 2
    assert registry.resolve("digits:3").stages == ("staging",)
    assert registry.rollback("digits", "production").version == 1
    with pytest.raises(RegistryError, match="no earlier holder to roll back to"):
        registry.rollback("digits", "production")
    rolled = [e for e in registry.history("digits") if e.kind == "rolled_back"]
    assert [(e.from_version, e.to_version) for e in rolled] == [(3, 2), (2, 1)]
    assert rolled[0].reason == "latency regression" and rolled[0].actor == "oncall"
    # A new promotion after rollbacks starts a new branch of history.
    registry.promote(staged(registry, packages, 0.99), "production")
    assert registry.rollback("digits", "production").version == 1


def test_rollback_skips_deleted_versions(registry: Registry, packages: Any) -> None:
    for accuracy in (0.90, 0.92, 0.94):
        registry.promote(staged(registry, packages, accuracy), "production")
    registry.delete_version("digits:2", reason="license problem")
    assert registry.rollback("digits", "production").version == 1


def test_rollback_restores_a_stage_emptied_by_a_forced_delete(registry: Registry, packages: Any) -> None:
    registry.promote(staged(registry, packages, 0.90), "production")
    registry.promote(staged(registry, packages, 0.95), "production")
    with pytest.raises(RegistryError, match="digits:2 holds production, staging"):
        registry.delete_version("digits:2")
    registry.delete_version("digits:2", force=True, reason="corrupt")
    assert "production" not in registry.labels("digits")
    result = registry.rollback("digits", "production")
    assert (result.previous, result.version) == (None, 1)
    with pytest.raises(RegistryError, match="no earlier holder"):
        registry.rollback("digits", "production")


def test_rollback_of_an_alias(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    registry.register("digits", packages())
    registry.set_alias("digits:1", "champion")
    registry.set_alias("digits:2", "champion")
    assert registry.rollback("digits", "champion").version == 1


def test_evaluate_gate_only_records_a_decision(registry: Registry, packages: Any) -> None:
    ref = staged(registry, packages, 0.55)
    decision = registry.evaluate_gate(ref, "production", actor="ci")
    assert not decision.blessed
    assert "test.accuracy = 0.55 is below min 0.6" in decision.summary()
    assert "production" not in registry.labels("digits")
    assert registry.history("digits")[-1].decision == "NOT_BLESSED"


def test_the_event_log_is_append_only_in_the_database(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    with pytest.raises(Exception, match="append-only"):
        with registry.engine.begin() as connection:
            connection.execute(update(Event).values(actor="mallory"))
    with pytest.raises(Exception, match="append-only"):
        with registry.engine.begin() as connection:
            connection.execute(delete(Event))
    assert registry.history("digits")[0].actor != "mallory"


def test_deployment_records(registry: Registry, packages: Any) -> None:
    registry.register("digits", packages())
    registry.register("digits", packages())
    registry.record_deployment("digits:1", "bento:digits_service:abc123", "built", actor="deploy")
    registry.record_deployment("digits:1", "service:digits_service@10.0.0.5:3000", "serving")
    record = registry.record_deployment(
        "digits:2",
        "service:digits_service@10.0.0.5:3000",
        "refused",
        details={"error": "manifest mismatch", "endpoint": "http://10.0.0.5:3000"},
    )
    assert (record.version, record.status, record.details["error"]) == (2, "refused", "manifest mismatch")
    listed = registry.deployments("digits")
    assert [(d.version, d.target, d.status) for d in listed] == [
        (2, "service:digits_service@10.0.0.5:3000", "refused"),
        (1, "service:digits_service@10.0.0.5:3000", "serving"),
        (1, "bento:digits_service:abc123", "built"),
    ]
    assert listed[-1].actor == "deploy" and listed[0].details == {
        "error": "manifest mismatch",
        "endpoint": "http://10.0.0.5:3000",
    }
    assert listed[0].recorded_at >= listed[-1].recorded_at
    assert [d.status for d in registry.deployments("digits", limit=1)] == ["refused"]
    assert kinds(registry).count("deployed") == 3
    with pytest.raises(
        RegistryError, match="status 'deployed' is not allowed; allowed: 'built', 'serving', 'refused', 'stopped'"
    ):
        registry.record_deployment("digits:1", "bento:digits:abc", "deployed")
    with pytest.raises(RegistryError, match="did you mean 'serving'"):
        registry.record_deployment("digits:1", "bento:digits:abc", "servng")
    for target in ("digits-api", "bento:../x", "service:api", "service:@host", "k8s:api@host", "bento:" + "a" * 130):
        with pytest.raises(RegistryError, match="deployment target"):
            registry.record_deployment("digits:1", target, "built")
    with pytest.raises(RegistryError, match="not plain JSON"):
        registry.record_deployment("digits:1", "bento:digits:abc", "built", details={"when": object()})
    assert kinds(registry).count("deployed") == 3


def test_every_table_has_the_registry_prefix(registry: Registry) -> None:
    from sqlalchemy import inspect

    tables = inspect(registry.engine).get_table_names()
    assert tables and all(name.startswith(("registry_", "monitoring_")) for name in tables)
    with registry.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM registry_alembic_version")).scalar() == head_revision()


def test_resolve_by_stage_alias_and_number_agree(registry: Registry, packages: Any) -> None:
    ref = staged(registry, packages, 0.9)
    registry.set_alias(ref, "champion")
    assert {
        registry.resolve(r).version for r in ("digits@staging", "digits@champion", "digits:1", "digits:latest")
    } == {1}


def test_a_corrupt_version_is_never_promoted_even_when_forced(registry: Registry, packages: Any) -> None:
    ref = staged(registry, packages, 0.9)
    version = registry.resolve(ref)
    (Path(registry.store.root) / version.object_key / "metrics.json").write_text("{}")
    with pytest.raises(IntegrityError, match="digits:1 cannot take a stage or alias.*metrics.json: sha256"):
        registry.promote(ref, "production", force=True, reason="ship it")
    assert "production" not in registry.labels("digits")


def test_aliases_and_rollbacks_never_point_at_a_corrupt_version(registry: Registry, packages: Any) -> None:
    registry.promote(staged(registry, packages, 0.90), "production")
    registry.promote(staged(registry, packages, 0.95), "production")
    (Path(registry.store.root) / registry.resolve("digits:1").object_key / "model.safetensors").write_bytes(b"x")
    with pytest.raises(IntegrityError, match="digits:1 cannot take a stage or alias"):
        registry.rollback("digits", "production")
    with pytest.raises(IntegrityError, match="digits:1 cannot take a stage or alias"):
        registry.set_alias("digits:1", "champion")
    assert registry.labels("digits") == {"production": (2,), "staging": (2,)}
