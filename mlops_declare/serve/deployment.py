"""Where a replica serves from: the spec's addresses, resolved when the service starts.

The spec holds addresses as the config writes them: relative to the project root, secrets as
`${oc.env:VAR}` references. A replica resolves them here, in memory only, against its project
root: `MLOPS_DECLARE_PROJECT_ROOT`, else the project whose generated service folder holds
service.py (its plan.json names the spec's project), else the working directory. So a bento holds
no path of the machine that built it. What differs per build (the version bundled with a bento and
the reference it follows) comes from the bento's build arguments (`bentoml.use_arguments()`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_declare.contracts.environment import PROJECT_ROOT, SERVE_CACHE
from mlops_declare.contracts.plan import PLAN_FILE
from mlops_declare.contracts.service import ServiceSpec
from mlops_declare.serve.loading import BUNDLED_PACKAGE, ServingError

if TYPE_CHECKING:
    from mlops_declare.config.registry import RegistryConfig
    from mlops_declare.registry import Registry

MODEL_ARGUMENT = "model"
"""Build argument of a bento: `<name>:<version>` of the package bundled with it."""
REFERENCE_ARGUMENT = "reference"
"""Build argument of a bento: the reference it follows (`serving.model`, or the version it is pinned to)."""


@dataclass(frozen=True)
class Deployment:
    """What one replica follows and where its registry, package cache and inference log are."""

    project_root: Path
    reference: str
    """What this replica follows: `serving.model`, or the reference a bento was built for (a version pins it)."""
    bundled: tuple[str, int] | None
    """Name and version of the package bundled with a bento (served before the registry answers)."""
    bundle_dir: Path
    registry: Mapping[str, Any]
    """The `registry` config group as the spec holds it (unresolved)."""
    inference_log_dir: Path
    cache_dir: Path


def resolve_deployment(
    spec: ServiceSpec,
    here: Path,
    arguments: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Deployment:
    """The deployment of the service whose service.py is in `here`, from its spec, build arguments and environment."""
    environ = os.environ if environ is None else environ
    arguments = arguments or {}
    root = project_root(spec, Path(here), environ)
    log_dir = Path(spec.inference_log_dir)
    bundle_dir = Path(here).resolve() / BUNDLED_PACKAGE
    cache = environ.get(SERVE_CACHE) or str(Path.home() / ".cache" / "mlops-declare" / "serve")
    return Deployment(
        project_root=root,
        reference=str(arguments.get(REFERENCE_ARGUMENT) or spec.model),
        bundled=_bundled(arguments.get(MODEL_ARGUMENT)) if bundle_dir.is_dir() else None,
        bundle_dir=bundle_dir,
        registry=spec.registry,
        inference_log_dir=log_dir if log_dir.is_absolute() else root / log_dir,
        cache_dir=Path(cache),
    )


def project_root(spec: ServiceSpec, here: Path, environ: Mapping[str, str]) -> Path:
    """`MLOPS_DECLARE_PROJECT_ROOT`, else the project holding the service folder `here`, else the working directory."""
    configured = environ.get(PROJECT_ROOT)
    if configured:
        return Path(configured).resolve()
    above = Path(here).resolve().parent
    try:
        if json.loads((above / PLAN_FILE).read_text(encoding="utf-8")).get("project") == spec.project:
            return above
    except (OSError, ValueError, AttributeError):
        pass  # no plan of this project above the service folder (a bento): the working directory
    return Path.cwd().resolve()


def _bundled(model: object) -> tuple[str, int] | None:
    name, _, version = str(model or "").rpartition(":")
    return (name, int(version)) if name and version.isdigit() else None


def registry_config(deployment: Deployment) -> RegistryConfig:
    """The spec's registry settings with `${oc.env:VAR}` references resolved in memory, validated."""
    from omegaconf import OmegaConf
    from pydantic import ValidationError

    from mlops_declare.config.registry import RegistryConfig

    try:
        resolved = OmegaConf.to_container(OmegaConf.create(dict(deployment.registry)), resolve=True)
    except Exception as exc:  # noqa: BLE001 - omegaconf raises several types; its message names the key and the variable, no value
        raise ServingError(f"registry settings cannot be resolved here: {exc}") from None
    try:
        return RegistryConfig.model_validate(resolved)
    except ValidationError as exc:  # the message without the input values, which may hold a resolved secret
        problems = "; ".join(".".join(map(str, error["loc"])) + ": " + error["msg"] for error in exc.errors())
        raise ServingError(f"registry settings are not valid: {problems}") from None


def open_registry(deployment: Deployment, read_only: bool = True) -> Registry:
    """The registry the replica follows, relative addresses against its project root (read-only unless asked)."""
    from mlops_declare import registry

    config = registry_config(deployment)
    return registry.open_registry(config, deployment.project_root, read_only=read_only, cache_dir=deployment.cache_dir)
