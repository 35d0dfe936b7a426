"""The service spec: everything the generated BentoML service and the serving runtime need, typed.

A service runs from this spec alone (embedded in the generated service.py): no config composition
at serve time. Addresses in it are relative to the project root or `${oc.env:VAR}` references;
the runtime resolves them when it starts, against `MLOPS_DECLARE_PROJECT_ROOT` (default: the project
whose generated service folder holds service.py, else the working directory; see
`mlops_declare.serve.deployment`), so a bento holds no path of the machine that built it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_declare.config.serving import Batching, InferenceLog, Limits, Resources, Rollout, Tracing

BUNDLED_PACKAGE = "model_package"
"""Folder of a bento's build context (beside service.py) holding the verified model package it serves first."""
PACKAGE_SOURCE = "mlops_declare"
"""Folder of a bento's build context holding the mlops_declare source the service imports."""
REQUIREMENTS_FILE = "requirements.txt"
"""The pinned requirements of a bento's build context (the committed bentofile names these three)."""


def field_name(column: str, taken: set[str]) -> str:
    """The Python identifier of a request field ('mean radius' -> 'mean_radius'), unique within `taken`.

    The generated request models and those the runtime builds from a package (inferred features)
    name their fields this way; the column name stays the field's alias.
    """
    name = re.sub(r"\W+", "_", column).strip("_").lower() or "field"
    if name[0].isdigit():
        name = f"f_{name}"
    candidate, counter = name, 2
    while candidate in taken:
        candidate, counter = f"{name}_{counter}", counter + 1
    taken.add(candidate)
    return candidate


class FeatureSpec(BaseModel):
    """One request field of the service, as the compiler knows it from the data schema."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["numeric", "categorical", "image"]
    shape: tuple[int, ...] | None = None
    """Shape of one image (images only)."""
    categories: tuple[str, ...] | None = None
    """Allowed values of a categorical feature, where the config declares them."""
    optional: bool
    """Whether the field may be null or left out (imputed numbers, the unknown category)."""


class ServiceSpec(BaseModel):
    """The generated BentoML service project: everything the renderer and the runtime need, typed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    class_name: str
    """Python class name of the service in service.py."""
    model: str
    """Registry reference the service follows (e.g. digits@production)."""
    model_name: str
    task: Literal["binary", "multiclass", "regression"]
    directory: str
    inputs: tuple[str, ...] | None
    """Request fields; None when only the data can tell (inferred features)."""
    features: tuple[FeatureSpec, ...] | None
    """Typed request fields; None when only the data can tell: the runtime then reads the package's input schema."""
    port: int
    workers: int
    resources: Resources
    batching: Batching
    limits: Limits
    rollout: Rollout
    log_inferences: bool
    log_sample_rate: float
    inference_log: InferenceLog
    inference_log_dir: str
    """Where the inference log goes, relative to the project root unless absolute (`<project.home>/inferences`)."""
    reload_s: float
    access_log: bool
    tracing: Tracing
    api_key_env: str | None
    """Name of the environment variable holding the API key (never the key)."""
    project: str = ""
    """The project this service belongs to (`project.name`)."""
    registry: dict[str, Any] = Field(default_factory=dict)
    """The `registry` config group as written in the plan (secrets as `${oc.env:VAR}` references, relative
    paths relative to the project root); the runtime resolves and validates it when it starts."""
    fingerprint: str = ""
    """sha256 of this spec's canonical JSON without this field: service.py's SERVICE_FINGERPRINT."""
