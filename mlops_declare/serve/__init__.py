"""Serving: the runtime behind the generated BentoML service, and bento building.

- `deployment`: where a replica serves from (the spec's addresses resolved at start, a bento's build arguments);
- `loading`: a verified, warmed model version (`ServedVersion`, `load_version`);
- `follower`: the registry follower (polling, live swaps, deployment records);
- `batcher`: adaptive batching after the API handlers;
- `runtime`: the request path (routing, metrics, inference-log rows); `inference_log`: the log writer;
- `middleware`, `service`, `schemas`: the glue the generated service.py imports;
- `build_bento(plan, loaded, project_root, ref=None, service_dir=None) -> BuiltBento`: the committed service folder built
  into a bento with the verified package (the deploy step and `mlops-declare build` call it).

Heavy libraries (bentoml, torch, pyarrow) are imported inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_declare.config import LoadedConfig
    from mlops_declare.contracts.plan import Plan
    from mlops_declare.serve.bento import BuiltBento


def build_bento(
    plan: Plan, loaded: LoadedConfig, project_root: Path, ref: str | None = None, service_dir: Path | None = None
) -> BuiltBento:
    """See `mlops_declare.serve.bento.build_bento`."""
    from mlops_declare.serve.bento import build_bento as build

    return build(plan, loaded, project_root, ref, service_dir)


__all__ = ["build_bento"]
