"""Serving: the runtime behind the generated BentoML service, and bento building.

- `mlops_declare.serve.runtime.Runtime`: what service.py runs (load, verify, warm, batch, swap, log).
- `build_bento(loaded_config, project_root, ref=None) -> dict`: build (or reuse) the bento of the
  version `ref` names (default `serving.model`), with the verified package, the registry address,
  pinned requirements and BentoML's Dockerfile; records a deployment in the registry and returns
  ``{"tag", "version", "path", "model"}``. The deploy step and `mlops-declare build` call it.

Heavy libraries (bentoml, torch, pyarrow) are imported inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_declare.config import LoadedConfig


def build_bento(loaded: LoadedConfig, project_root: str | Path, ref: str | None = None) -> dict[str, Any]:
    """See `mlops_declare.serve.bento.build_bento`."""
    from mlops_declare.serve.bento import build_bento as build

    return build(loaded, project_root, ref)


__all__ = ["build_bento"]
