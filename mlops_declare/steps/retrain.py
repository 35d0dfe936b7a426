"""The `request_retrain` step: the monitoring DAG's last task, which emits the retrain Asset event.

Its result's `event` entry (the RetrainRequest of `mlops_declare.contracts.seams`) becomes the event's extra;
the training DAG, scheduled on that Asset, receives it as `StepContext.trigger` and `register`
records it in the new version's lineage.
"""

from __future__ import annotations

from mlops_declare.contracts.results import MonitoringCheckResult, RetrainResult
from mlops_declare.steps import StepContext, StepError


def request_retrain(context: StepContext, monitoring_check: MonitoringCheckResult) -> RetrainResult:
    """Emit the retrain Asset event: the `act` step's RetrainRequest becomes the event's extra.

    Runs only when `act`'s gate (`retrain`) is set: `act` decides on drift, performance and the
    minimum interval between drift-triggered retrains (see the retrain-trigger seam).
    """
    request = monitoring_check.retrain
    if request is None:
        raise StepError("step 'request_retrain' runs only when the 'act' result holds a retrain request")
    return RetrainResult(requested=True, reason=request.reason, event=request.model_dump(mode="json"))
