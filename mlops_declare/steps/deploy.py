"""The `deploy` step: build the bento of the version now holding the served label and record it.

Running services follow `serving.model` (a registry reference such as `digits@production`) and
swap to a new holder by themselves (see the deployed-reference seam in `mlops_declare.seams`);
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
    built = build_bento(context.loaded, context.project_root, None)
    serving = context.loaded.config.serving.model or f"{context.loaded.config.model.name}@production"
    return {
        "tag": str(built["tag"]),
        "version": int(built["version"]),
        "model": str(built.get("model", "")),
        "path": str(built["path"]),
        "candidate": promotion.get("ref"),
        "serving": serving,
        "event": {"model": str(built.get("model", "")), "bento": str(built["tag"]), "serving": serving},
    }

