"""The `register` and `promote` steps: put the trained package in the registry, then move it through its gates."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlops_declare.contracts.environment import AIRFLOW_DAG_ID, AIRFLOW_RUN_ID
from mlops_declare.contracts.layouts import EVALUATION_SPLITS
from mlops_declare.contracts.results import (
    DatasetResult,
    EvaluationResult,
    PromotionResult,
    RegistrationResult,
    TrainResult,
)
from mlops_declare.contracts.seams import Trigger
from mlops_declare.steps import StepContext, StepError


def _registry(context: StepContext) -> Any:
    """The project's registry, writable (the training steps register and promote), loads cached under <home>/cache."""
    from mlops_declare.registry import open_registry

    return open_registry(
        context.loaded.config.registry, context.project_root, read_only=False, cache_dir=context.home / "cache"
    )


def register(
    context: StepContext, evaluation: EvaluationResult, model_package: TrainResult, dataset: DatasetResult
) -> RegistrationResult:
    """Register the evaluated package with its metrics and full lineage; idempotent per run."""
    from mlops_declare.registry import default_actor
    from mlops_declare.registry.package import lineage_from_package

    package_dir = _trained_package(context, model_package)
    if context.resolve(evaluation.package_dir) != package_dir:
        raise StepError(
            f"step 'evaluate' scored {evaluation.package_dir}, not the package 'train' wrote ({model_package.package_dir})"
        )
    lineage = lineage_from_package(
        package_dir,
        dataset_uri=dataset.dataset_dir,
        config=context.loaded.snapshot,
        config_fingerprint=context.loaded.fingerprint,
        git_commit=git_commit(context.project_root),
        training_run_id=context.run_id,
        airflow_dag_id=os.environ.get(AIRFLOW_DAG_ID),
        airflow_run_id=os.environ.get(AIRFLOW_RUN_ID),
    )
    name = context.loaded.config.model.name
    with _registry(context) as registry:
        extra = (
            {**lineage.extra, "trigger": context.trigger.model_dump(mode="json", exclude_none=True)}
            if context.trigger
            else lineage.extra
        )
        lineage = replace(lineage, parent_version=_replaced_version(registry, context, name), extra=extra)
        version = registry.register(
            name, package_dir, lineage=lineage, actor=f"{default_actor()} (run {context.run_id})"
        )
    return RegistrationResult(
        name=version.name,
        version=version.version,
        ref=version.ref,
        manifest_sha256=version.manifest_sha256,
        metrics={split: dict(values) for split, values in version.metrics.items()},
    )


def promote(context: StepContext, model_version: RegistrationResult, dataset: DatasetResult) -> PromotionResult:
    """Try the registered version against each `registry.auto_promote` stage's gate, in order.

    A gate refusal is an outcome, not a failure: it is logged as NOT_BLESSED with the numbers and
    the step reports it; later stages are not tried, since they usually require the earlier one.
    """
    from mlops_declare.registry import GateRefused, default_actor

    ref = model_version.ref
    promoted: list[str] = []
    already: list[str] = []
    refused: dict[str, dict[str, Any]] = {}
    rescored: dict[str, str] = {}
    held_back = _stages_a_backfill_may_not_move(context)
    with _registry(context) as registry:
        for stage in context.loaded.config.registry.auto_promote:
            if stage in held_back:
                refused[stage] = {"stage": stage, "blessed": False, "reason": held_back[stage]}
                break
            baseline = _holder_on_candidate_data(registry, context, ref, stage, dataset)
            if baseline is not None:
                rescored[stage] = f"{model_version.name}:{baseline.version}"
            try:
                result = registry.promote(
                    ref,
                    stage,
                    actor=f"{default_actor()} (run {context.run_id})",
                    baseline=baseline,
                    reason=retrain_reason(context.trigger),
                )
            except GateRefused as exc:
                refused[stage] = exc.decision.to_dict()  # type: ignore[attr-defined]
                break
            (promoted if result.changed else already).append(stage)
    blessed = bool(promoted or already)
    return PromotionResult(
        ref=ref,
        blessed=blessed,
        event={"ref": ref, "promoted": promoted, "already_held": already} if blessed else {},
        promoted=tuple(promoted),
        already_held=tuple(already),
        refused=refused,
        holders_rescored_on_this_data=rescored,
    )


def retrain_reason(trigger: Trigger | None) -> str | None:
    """For the registry history: the retrain request that started this run (contracts.seams.RetrainRequest), in one line; else None."""
    request = trigger.retrain_request() if trigger is not None else None
    if request is None:
        return None
    columns = list(request.verdict.drifted_columns)
    drifted = ", ".join(columns[:5]) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return (
        f"retrain on {request.reason}: monitoring check {request.check_id} of {request.model}"
        + f", drift share {request.verdict.drift_share:.2f}"
        + (f", drifted: {drifted}" if drifted else "")
    )


def _stages_a_backfill_may_not_move(context: StepContext) -> dict[str, str]:
    """Single-holder stages -> why this run may not move them: a backfill, unless `orchestration.backfill_moves_stages`."""
    trigger = context.trigger
    if trigger is None or trigger.run_type != "backfill" or context.loaded.config.orchestration.backfill_moves_stages:
        return {}
    return {
        stage.name: "a backfill run does not move a single-holder stage (orchestration.backfill_moves_stages is false)"
        for stage in context.loaded.config.registry.stages
        if stage.single_holder
    }


def _holder_on_candidate_data(registry: Any, context: StepContext, ref: str, stage: str, dataset: DatasetResult) -> Any:
    """The stage holder's metrics on this run's val/test data, when it was evaluated on other data; else None.

    A retrain on new data cannot be compared with numbers the holder scored on old data (the gate
    refuses that), so, as TFX's Evaluator runs the baseline model, the holder's package is scored
    here on the candidate's splits, through the holder's own packaged preprocessing.
    """
    from mlops_declare.registry import Baseline, NotFoundError

    candidate = registry.resolve(ref)
    try:
        holder = registry.resolve(f"{candidate.name}@{stage}")
    except NotFoundError:
        return None
    ours, theirs = _evaluation_data(candidate), _evaluation_data(holder)
    if holder.version == candidate.version or ours is None or theirs is None or ours == theirs:
        return None
    metrics = score_package_on_dataset(registry.load(holder.ref), context.resolve(dataset.dataset_dir))
    datasets = {
        split: dict(candidate.lineage.datasets[split]) for split in metrics if split in candidate.lineage.datasets
    }
    return Baseline(version=holder.version, metrics=metrics, datasets=datasets)


def _evaluation_data(version: Any) -> str | None:
    entry = version.lineage.datasets.get("test")
    return str(entry.get("fingerprint")) if isinstance(entry, dict) and entry.get("fingerprint") else None


def score_package_on_dataset(package_dir: Path, dataset_dir: Path) -> dict[str, dict[str, float]]:
    """Val and test metrics of a registered package on a prepared dataset, through the package's own preprocessing."""
    from mlops_declare.data import PreparedDataset
    from mlops_declare.train.evaluate import evaluate_split
    from mlops_declare.train.package import load_package

    package = load_package(package_dir)
    preprocessor = package.preprocessor()
    dataset = PreparedDataset.load(dataset_dir)
    names = list(package.spec["metrics"])
    scores: dict[str, dict[str, float]] = {}
    for split in EVALUATION_SPLITS:
        table = dataset.read_split(split)
        scores[split] = evaluate_split(
            package.network,
            package.architecture,
            preprocessor.transform_table(table),
            preprocessor.target_array(table),
            names,
        )
    return scores


def _replaced_version(registry: Any, context: StepContext, name: str) -> int | None:
    """The parent in lineage: the version holding the last declared stage (what this retrain would replace)."""
    from mlops_declare.registry import NotFoundError

    stages = context.loaded.config.registry.stages
    if not stages:
        return None
    try:
        return int(registry.resolve(f"{name}@{stages[-1].name}").version)
    except NotFoundError:
        return None


def _trained_package(context: StepContext, trained: TrainResult) -> Path:
    if not trained.package_dir:
        raise StepError("step 'register' needs a package from step 'train' (its package_dir is empty); rerun train")
    package = context.resolve(trained.package_dir)
    if not package.is_dir():
        raise StepError(f"the 'train' result names package_dir {str(package)!r}, which is not a directory")
    return package


def git_commit(project_root: Path) -> str | None:
    """The project's HEAD commit when it is a git checkout with git installed; None otherwise."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(project_root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and len(commit) in (40, 64) else None
