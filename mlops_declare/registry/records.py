"""Plain records the registry returns: versions with lineage and metrics, events, deployments, reports."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from mlops_declare.contracts.layouts import PACKAGE_METRICS_FILE
from mlops_declare.registry.artifacts import ManifestEntry
from mlops_declare.registry.errors import RegistryError
from mlops_declare.registry.gates import GateDecision

VERSION_STATUSES = ("ready", "archived", "deleted")
"""ready: live; archived: displaced from a single-holder stage and holding nothing; deleted: gone from listings."""
DeploymentStatus = Literal["built", "serving", "refused", "stopped"]
"""built: a bento of the version was built; serving: a replica serves it; refused: a replica refused it
(verification failed, the old version kept serving); stopped: a replica stopped serving it."""
DEPLOYMENT_STATUSES: tuple[str, ...] = get_args(DeploymentStatus)
EVENT_KINDS = (
    "registered",
    "evaluated",
    "promoted",
    "archived",
    "rolled_back",
    "alias_set",
    "alias_removed",
    "deployed",
    "deleted",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Lineage:
    """How a version was made: config, data, code and the run that trained it."""

    config_fingerprint: str | None = None
    config: Mapping[str, Any] | None = None
    """The resolved config with secrets redacted (the loader's snapshot)."""
    datasets: Mapping[str, Any] = field(default_factory=dict)
    """Dataset name or split -> {"fingerprint": ..., "uri": ...}."""
    package_version: str | None = None
    git_commit: str | None = None
    parent_version: int | None = None
    training_run_id: str | None = None
    airflow_dag_id: str | None = None
    airflow_run_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def checked(self) -> Lineage:
        """Self, after making sure every part is JSON and the parent version is a version number."""
        for part in ("config", "datasets", "extra"):
            try:
                json.dumps(getattr(self, part), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise RegistryError(f"lineage.{part} is not plain JSON: {exc}") from None
        if self.parent_version is not None and (isinstance(self.parent_version, bool) or self.parent_version < 1):
            raise RegistryError(f"lineage.parent_version {self.parent_version!r} is not a version number")
        return self


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as stored."""

    name: str
    version: int
    status: str
    created_at: datetime
    created_by: str
    description: str
    object_key: str
    manifest_sha256: str
    size_bytes: int
    files: tuple[ManifestEntry, ...]
    metrics: Mapping[str, Mapping[str, float]]
    lineage: Lineage
    stages: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of the append-only event log."""

    id: int
    name: str
    kind: str
    version: int | None
    label: str | None
    from_version: int | None
    to_version: int | None
    decision: str | None
    forced: bool
    actor: str
    reason: str
    details: Mapping[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion, alias move or rollback did."""

    name: str
    label: str
    version: int
    previous: int | None
    changed: bool
    forced: bool = False
    decision: GateDecision | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decision"] = self.decision.to_dict() if self.decision else None
        return data


@dataclass(frozen=True)
class DeploymentRecord:
    """One entry of a model's deployment log: a version was built or served somewhere, or refused or stopped there.

    `target` is `bento:<tag>` for a built bento or `service:<name>@<host>` for a running replica
    (see the deployed-reference seam in `mlops_declare.contracts.seams`).
    """

    name: str
    version: int
    target: str
    status: DeploymentStatus
    actor: str
    details: Mapping[str, Any]
    recorded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = dict(self.details)
        data["recorded_at"] = self.recorded_at.isoformat()
        return data


@dataclass(frozen=True)
class ModelSummary:
    """A registered model with its newest live version and who holds which stage or alias."""

    name: str
    description: str
    latest_version: int | None
    live_versions: int
    labels: Mapping[str, tuple[int, ...]]
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """Result of checking every live version's artefacts against its manifest."""

    checked: int
    problems: tuple[tuple[str, str], ...]
    """(version ref, what is wrong)."""
    orphans: tuple[str, ...]
    """Store directories no live version points at (`gc` removes them)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [list(p) for p in self.problems],
            "orphans": list(self.orphans),
        }


@dataclass(frozen=True)
class GcReport:
    """Store directories removed by `gc`, and orphans kept because they may belong to a registration in progress."""

    removed: tuple[str, ...]
    kept_recent: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"removed": list(self.removed), "kept_recent": list(self.kept_recent)}


def read_package_metrics(package_dir: str | Path) -> dict[str, dict[str, float]]:
    """`metrics.json` of a model package ({"val": {...}, "test": {...}}), checked."""
    path = Path(package_dir) / PACKAGE_METRICS_FILE
    if not path.is_file():
        raise RegistryError(f"{str(path)!r} not found; a model package carries its metrics in metrics.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{str(path)!r} is not valid JSON: {exc}") from None
    return checked_metrics(data, str(path))


def checked_metrics(data: Any, where: str = "metrics") -> dict[str, dict[str, float]]:
    """Metrics as {split: {name: finite float}}; RegistryError naming the offending key otherwise."""
    if not isinstance(data, Mapping):
        raise RegistryError(f"{where}: expected {{split: {{metric: number}}}}, got {type(data).__name__}")
    result: dict[str, dict[str, float]] = {}
    for split, values in data.items():
        if not isinstance(split, str) or not split or len(split) > 64:
            raise RegistryError(f"{where}: split name {split!r} is not a short string")
        if not isinstance(values, Mapping):
            raise RegistryError(f"{where}: {split!r} should map metric names to numbers, got {type(values).__name__}")
        result[split] = {name: _finite(value, f"{where}: {split}.{name}") for name, value in values.items()}
        for name in values:
            if not isinstance(name, str) or not name or len(name) > 64:
                raise RegistryError(f"{where}: metric name {name!r} in {split!r} is not a short string")
    return result


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RegistryError(f"{where} = {value!r} is not a finite number")
    return float(value)
