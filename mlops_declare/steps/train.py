"""The `train` and `evaluate` steps: train on the ingested dataset, write the model package, re-check it."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_declare.atomic import write_json_atomic
from mlops_declare.contracts.environment import TRAIN_RUN_ID
from mlops_declare.contracts.layouts import EVALUATION_SPLITS, PACKAGE_PRUNING_REPORT_FILE, SplitName
from mlops_declare.contracts.results import DatasetResult, EvaluationResult, TrainResult, ValidationResult
from mlops_declare.steps import StepContext, StepError

TRAIN_COMMAND_VARIABLE = TRAIN_RUN_ID
"""Set by `mlops-declare train`, whose DDP workers (started by re-running the command) join the same run."""


def prepared_dataset_dir(context: StepContext, dataset: DatasetResult) -> Path:
    """The prepared dataset folder the `ingest` step wrote for this run, checked to exist."""
    directory = context.resolve(dataset.dataset_dir)
    if not directory.is_dir():
        raise StepError(
            f"the 'ingest' result names dataset_dir {dataset.dataset_dir!r}, which is not a folder; rerun ingest"
        )
    return directory


def check_before_data(loaded: Any, fast_dev_run: bool = False) -> None:
    """Fail before any data work when the training setup cannot run here (e.g. 16-mixed on a CPU)."""
    from mlops_declare.train.checks import preflight

    preflight(loaded, fast_dev_run)


def check_launch(loaded: Any) -> None:
    """Lightning starts `ddp` workers by re-running the current command; only `mlops-declare train` expects that.

    Re-running `mlops-declare run` or an Airflow task would repeat every earlier step in each worker.
    """
    trainer = loaded.config.trainer
    per_node = (
        trainer.devices
        if isinstance(trainer.devices, int)
        else len(trainer.devices)
        if isinstance(trainer.devices, list)
        else 1
    )
    if trainer.strategy == "ddp" and per_node > 1 and not os.environ.get(TRAIN_COMMAND_VARIABLE):
        raise StepError(
            "trainer.strategy: 'ddp' with several devices re-runs the launching command in each worker, which only "
            "`mlops-declare train` supports; in pipelines use strategy ddp_spawn"
        )


def train(
    context: StepContext, dataset: DatasetResult, validation_report: ValidationResult, fast_dev_run: bool = False
) -> TrainResult:
    """Train the configured model on the validated dataset; the package goes to `<run_dir>/model` (rank 0 only under DDP)."""
    from mlops_declare.train.data import training_data_from_prepared
    from mlops_declare.train.fit import train_model

    check_launch(context.loaded)
    if validation_report.fingerprint != dataset.fingerprint:
        raise StepError(
            f"the validation report is of dataset {validation_report.fingerprint[:12]}, not of the ingested "
            f"{dataset.fingerprint[:12]}; rerun validate_data in this run"
        )
    directory = prepared_dataset_dir(context, dataset)
    data = training_data_from_prepared(directory)
    result = train_model(context.loaded, data, context.run_dir, fast_dev_run=fast_dev_run)
    if result.package_dir is not None:
        from mlops_declare.monitor.reference import package_reference_profile

        package_reference_profile(directory, result.package_dir, context.loaded.config.monitoring.drift)
    summary = result.to_json()
    if result.package_dir is not None:
        summary["package_dir"] = context.relative(Path(result.package_dir))
    summary["dataset_fingerprint"] = data.dataset_fingerprint
    summary["validation_warnings"] = list(validation_report.warnings)
    if result.pruning_report is not None and result.package_dir is not None:
        summary["pruning_report_path"] = context.relative(Path(result.package_dir) / PACKAGE_PRUNING_REPORT_FILE)
    return TrainResult.model_validate(summary)


def score_differences(
    recorded: Mapping[str, Mapping[str, float]], measured: Mapping[SplitName, Mapping[str, float]], tolerance: float
) -> dict[str, tuple[float | None, float]]:
    """Metrics that differ beyond `tolerance`, relative to the metric's scale (and absolute near zero).

    A metric in target units (mse of a target in the thousands) differs by an ulp of its own size
    between two float32 summation orders, so an absolute bound would fail every regression run.
    """
    return {
        f"{split}.{name}": (recorded.get(split, {}).get(name), value)
        for split, values in measured.items()
        for name, value in values.items()
        if (before := recorded.get(split, {}).get(name)) is None
        or not math.isclose(value, before, rel_tol=tolerance, abs_tol=tolerance)
    }


def evaluate(context: StepContext, model_package: TrainResult, dataset: DatasetResult) -> EvaluationResult:
    """Reload the package as serving would (JSON + safetensors) and score it on val and test again.

    Fails if the reloaded package scores differently from what training recorded, which would mean
    the package does not reproduce the trained model.
    """
    from mlops_declare.train.data import training_data_from_prepared
    from mlops_declare.train.evaluate import evaluate_split
    from mlops_declare.train.package import load_package

    if not model_package.package_dir:
        raise StepError("step 'evaluate' needs a package from step 'train' (its package_dir is empty); rerun train")
    import torch

    package = load_package(context.resolve(model_package.package_dir))
    data = training_data_from_prepared(prepared_dataset_dir(context, dataset))
    names = list(package.spec["metrics"])
    # Same device as training's final scoring gives the same numbers; a CPU re-check of GPU scores
    # may differ in the last bits, so it gets a tolerance of about one borderline row.
    trained_on = package.spec.get("evaluated_on", "cpu")
    device = "cuda" if trained_on == "cuda" and torch.cuda.is_available() else "cpu"
    tolerance = 1e-5 if device == trained_on else 2e-2
    torch.set_float32_matmul_precision("highest")
    metrics = {
        split: evaluate_split(package.network, package.architecture, *data.splits[split], names, device=device)
        for split in EVALUATION_SPLITS
    }
    differences = score_differences(model_package.metrics, metrics, tolerance)
    if differences:
        raise StepError(f"the reloaded package scores differently from training: {differences}")
    write_json_atomic(context.run_dir / "evaluation.json", metrics)
    return EvaluationResult(
        package_dir=context.relative(Path(package.directory)),
        metrics=metrics,
        objective=package.spec["objective"],
        evaluated_on=device,
    )
