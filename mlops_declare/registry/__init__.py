"""The model registry: versions with lineage and metrics, gated stages, aliases, an audit log and verified artefacts.

from mlops_declare.registry import open_registry
with open_registry(config.registry, project_root, read_only=False) as registry:
    version = registry.register("digits", package_dir, lineage=Lineage(...))
    registry.promote(version.ref, "staging", actor="ci")
    path = registry.load("digits@production")   # a verified local copy

Serving replicas and monitors open it with `read_only=True`: no migration, no writes.
"""

from mlops_declare.registry.core import Registry, default_actor, open_registry, resolve_store_urls
from mlops_declare.registry.errors import (
    BadReference,
    GateRefused,
    IntegrityError,
    NotFoundError,
    PromotionConflict,
    RegistryError,
)
from mlops_declare.registry.gates import Baseline, GateDecision
from mlops_declare.registry.records import (
    DeploymentRecord,
    GcReport,
    HistoryEvent,
    Lineage,
    ModelSummary,
    ModelVersion,
    PromotionResult,
    VerifyReport,
    read_package_metrics,
)
from mlops_declare.registry.refs import ModelRef, parse_model_ref

__all__ = [
    "BadReference",
    "Baseline",
    "DeploymentRecord",
    "GateDecision",
    "GateRefused",
    "GcReport",
    "HistoryEvent",
    "IntegrityError",
    "Lineage",
    "ModelRef",
    "ModelSummary",
    "ModelVersion",
    "NotFoundError",
    "PromotionConflict",
    "PromotionResult",
    "Registry",
    "RegistryError",
    "VerifyReport",
    "default_actor",
    "open_registry",
    "parse_model_ref",
    "read_package_metrics",
    "resolve_store_urls",
]
