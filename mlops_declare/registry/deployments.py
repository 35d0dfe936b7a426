"""Deployment records: where a version was built or served, appended to the event log (the deployed-reference seam).

A record names a target, `bento:<tag>` (the deploy step built a bento) or `service:<name>@<host>`
(a replica serves the version), and a status from `DeploymentStatus`. Each record is a `deployed`
event in the append-only log, so `Registry.deployments` lists every build, swap and refusal, newest
first; `registry_deployments` keeps the latest status per (version, target).

Recording is a write: a serving replica that opened the registry read-only opens a second,
short-lived writable `Registry` (or runs the deploy step) to append its records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Engine, insert, select, update

from mlops_declare.config.messages import allowed_list, suggest
from mlops_declare.registry.database import read_transaction
from mlops_declare.registry.errors import RegistryError
from mlops_declare.registry.events import default_actor, log_event
from mlops_declare.registry.models import Deployment, Event
from mlops_declare.registry.queries import Queries, as_ref
from mlops_declare.registry.records import (
    DEPLOYMENT_STATUSES,
    DeploymentRecord,
    DeploymentStatus,
    as_utc,
    utc_now,
)
from mlops_declare.registry.refs import ModelRef

TARGET_PATTERNS = {
    "bento": re.compile(r"^bento:[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)?$"),
    "service": re.compile(r"^service:[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9\[][A-Za-z0-9._:\[\]-]*$"),
}
TARGET_FORMS = "'bento:<tag>' or 'service:<name>@<host>'"
MAX_TARGET_LENGTH = 128
"""The width of `registry_deployments.service`, which holds the target."""
MAX_ENDPOINT_LENGTH = 512


def check_status(status: str) -> DeploymentStatus:
    """`status` when it is one of `DeploymentStatus`; RegistryError listing the allowed ones otherwise."""
    if status not in DEPLOYMENT_STATUSES:
        raise RegistryError(
            f"deployment status {status!r} is not allowed; allowed: {allowed_list(DEPLOYMENT_STATUSES)}"
            f"{suggest(str(status), DEPLOYMENT_STATUSES)}"
        )
    return cast(DeploymentStatus, status)


def check_target(target: str) -> str:
    """`target` when it reads `bento:<tag>` or `service:<name>@<host>`; RegistryError otherwise."""
    if not isinstance(target, str) or not any(pattern.match(target) for pattern in TARGET_PATTERNS.values()):
        raise RegistryError(f"deployment target {target!r} is not allowed; expected {TARGET_FORMS}")
    if len(target) > MAX_TARGET_LENGTH:
        raise RegistryError(f"deployment target {target[:40]!r}... is longer than {MAX_TARGET_LENGTH} characters")
    return target


def _checked_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    data = dict(details or {})
    if not all(isinstance(key, str) for key in data):
        raise RegistryError(f"deployment details must have string keys, got {sorted(map(repr, data))}")
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"deployment details are not plain JSON: {exc}") from None
    return data


class Deployments:
    """Appending and listing deployment records."""

    def __init__(self, engine: Engine, queries: Queries) -> None:
        self.engine = engine
        self.queries = queries

    def record(
        self,
        ref: str | ModelRef,
        target: str,
        status: str,
        *,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> DeploymentRecord:
        """Append a record that `ref`'s version reached `status` at `target`; see `Registry.record_deployment`."""
        checked_status = check_status(status)
        check_target(target)
        extra = _checked_details(details)
        actor = (actor or default_actor())[:128]
        endpoint = extra.get("endpoint")
        endpoint = endpoint if isinstance(endpoint, str) and len(endpoint) <= MAX_ENDPOINT_LENGTH else None
        bento_tag = target.removeprefix("bento:") if target.startswith("bento:") else None
        now = utc_now()
        with self.engine.begin() as connection:
            found = self.queries.target(connection, as_ref(ref))
            values = {"bento_tag": bento_tag, "endpoint": endpoint, "status": checked_status, "since": now}
            updated = connection.execute(
                update(Deployment)
                .where(Deployment.version_id == found.version_id, Deployment.service == target)
                .values(**values)
            ).rowcount
            if not updated:
                connection.execute(insert(Deployment).values(version_id=found.version_id, service=target, **values))
            log_event(
                connection,
                found.model_id,
                "deployed",
                actor,
                version=found.version,
                details={"target": target, "status": checked_status, "details": extra},
            )
        return DeploymentRecord(found.name, found.version, target, checked_status, actor, extra, now)

    def listing(self, name: str, limit: int | None = None) -> list[DeploymentRecord]:
        """The model's deployment records, newest first (at most `limit`)."""
        with read_transaction(self.engine) as connection:
            model_id = self.queries.model_id(connection, name)
            query = (
                select(Event.version, Event.actor, Event.details, Event.created_at)
                .where(Event.model_id == model_id, Event.kind == "deployed")
                .order_by(Event.id.desc())
            )
            rows = connection.execute(query.limit(limit) if limit is not None else query).all()
        return [_record(name, row.version, row.actor, row.details or {}, row.created_at) for row in rows]


def _record(name: str, version: int, actor: str, stored: Mapping[str, Any], created_at: Any) -> DeploymentRecord:
    # Records written before targets existed carried a service name and no target.
    target = str(stored.get("target") or stored.get("service") or "")
    details = stored.get("details")
    return DeploymentRecord(
        name=name,
        version=version,
        target=target,
        status=cast(DeploymentStatus, str(stored.get("status", ""))),
        actor=actor,
        details=dict(details) if isinstance(details, Mapping) else {},
        recorded_at=as_utc(created_at),
    )
