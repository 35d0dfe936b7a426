"""The append-only event log: who is acting, writing one event inside a transaction, reading one back."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, insert

from mlops_declare.contracts.environment import ACTOR
from mlops_declare.registry.models import Event
from mlops_declare.registry.records import HistoryEvent, as_utc, utc_now

ACTOR_VARIABLE = ACTOR
"""The environment variable naming who acts (declared in contracts.environment)."""


def default_actor() -> str:
    """Who is acting: $MLOPS_DECLARE_ACTOR, else the login name."""
    actor = os.environ.get(ACTOR_VARIABLE)
    if actor:
        return actor[:128]
    try:
        return getpass.getuser()[:128]
    except (OSError, KeyError):
        return "unknown"


def log_event(  # noqa: PLR0913 - budget: one of the functions above the argument limit when it was set (0.3.0); do not add more
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
    """Append one event, in the caller's transaction so it commits with the change it records."""
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


def history_event(name: str, row: Row[Any]) -> HistoryEvent:
    """A row of the event table as the record `Registry.history` returns."""
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
