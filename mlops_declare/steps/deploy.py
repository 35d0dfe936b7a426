"""The `deploy` step: build the bento of the version now holding the served label and record it.

Running services follow `serving.model` (a registry reference such as `digits@production`) and
swap to a new holder by themselves (see the deployed-reference seam in `mlops_declare.contracts.seams`);
this step makes the matching bento exist and appends the deployment record (status `built`).
Idempotent: the bento tag is deterministic (model version + config fingerprint), so a retry
returns the bento already built.
"""

from __future__ import annotations

from typing import Any

from mlops_declare.steps import StepContext, StepError


def deploy(context: StepContext) -> dict[str, Any]:
    """Build (or reuse) the bento of the served reference after a promotion; the result names its tag."""
    from mlops_declare.serve import build_bento

    promotion = context.upstream.get("promote") or {}
    if not promotion.get("blessed"):
        raise StepError("step 'deploy' runs only after a blessed promotion; the 'promote' result says not blessed")
    serving = context.loaded.config.serving.model or f"{context.loaded.config.model.name}@production"
    holder = _holder(context, serving)
    if holder is None:
        # Promotion moved an earlier stage only (e.g. auto_promote: [staging]); what services follow is unchanged.
        return {
            "deployed": False,
            "serving": serving,
            "candidate": promotion.get("ref"),
            "reason": f"no version holds {serving}; promote one (or add its stage to registry.auto_promote) to deploy",
            "event": {},
        }
    built = build_bento(context.loaded, context.project_root, None)
    return {
        "deployed": True,
        "tag": str(built["tag"]),
        "version": int(built["version"]),
        "model": str(built.get("model", "")),
        "path": str(built["path"]),
        "candidate": promotion.get("ref"),
        "serving": serving,
        "event": {"model": str(built.get("model", "")), "bento": str(built["tag"]), "serving": serving},
    }


def _holder(context: StepContext, reference: str) -> int | None:
    """The version `reference` names now, or None when nothing holds its label."""
    from mlops_declare.registry import NotFoundError, Registry

    with Registry.from_config(context.loaded.config.registry, context.project_root) as registry:
        try:
            return int(registry.resolve(reference).version)
        except NotFoundError:
            return None
