"""The `deploy` step: build the bento of the version now holding the served label and record it.

Running services follow `serving.model` (a registry reference such as `digits@production`) and
swap to a new holder by themselves (see the deployed-reference seam in `mlops_declare.contracts.seams`);
this step makes the matching bento exist and appends the deployment record (status `built`).
Idempotent: the bento tag is deterministic (model version + config fingerprint), so a retry
returns the bento already built.
"""

from __future__ import annotations

from mlops_declare.contracts.results import DeploymentResult, PromotionResult
from mlops_declare.steps import StepContext, StepError


def deploy(context: StepContext, promotion: PromotionResult) -> DeploymentResult:
    """Build (or reuse) the bento of what the served reference names now; `deployed` only when that is the candidate."""
    from mlops_declare.serve import build_bento

    if not promotion.blessed:
        raise StepError("step 'deploy' runs only after a blessed promotion; the 'promote' result says not blessed")
    serving = context.plan.service.model
    holder = _holder(context, serving)
    if holder is None:
        # Promotion moved an earlier stage only (e.g. auto_promote: [staging]); what services follow is unchanged.
        return DeploymentResult(
            deployed=False,
            candidate=promotion.ref,
            serving=serving,
            reason=f"no version holds {serving}; promote one (or add its stage to registry.auto_promote) to deploy",
        )
    # A local run whose command line changed the service has its own service project in the run folder.
    own_service = context.run_dir / context.plan.service.directory
    built = build_bento(
        context.plan, context.loaded, context.project_root, service_dir=own_service if own_service.is_dir() else None
    )
    candidate_serves = built.model == promotion.ref
    return DeploymentResult(
        deployed=candidate_serves,
        candidate=promotion.ref,
        serving=serving,
        serving_version=built.version,
        tag=built.tag,
        path=context.relative(built.path),
        rebuilt=built.newly_built,
        reason=None
        if candidate_serves
        else f"{serving} is still {built.model} (the candidate {promotion.ref} did not take that label); "
        f"its bento {built.tag} was {'built' if built.newly_built else 'already built'}",
        event={"model": built.model, "bento": built.tag, "serving": serving} if candidate_serves else {},
    )


def _holder(context: StepContext, reference: str) -> int | None:
    """The version `reference` names now, or None when nothing holds its label."""
    from mlops_declare.registry import NotFoundError, open_registry

    with open_registry(context.loaded.config.registry, context.project_root, read_only=True) as registry:
        try:
            return int(registry.resolve(reference).version)
        except NotFoundError:
            return None
