"""The `train` and `evaluate` steps: train on the ingested dataset, write the model package, re-check it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlops_declare.atomic import write_json_atomic
from mlops_declare.steps import StepContext, StepError

TRAIN_COMMAND_VARIABLE = "MLOPS_DECLARE_TRAIN_RUN_ID"
"""Set by `mlops-declare train`, whose DDP workers (started by re-running the command) join the same run."""

DATASET_KEY = "dataset_dir"
"""Where the `ingest` result names the prepared dataset directory."""


def prepared_dataset_dir(context: StepContext) -> Path:
    """The prepared dataset the `ingest` step wrote for this run."""
    ingest = context.upstream.get("ingest")
    if ingest is None:
        raise StepError("step 'train' needs the result of step 'ingest'; run ingest first")
    if not ingest.get(DATASET_KEY):
        raise StepError(f"the 'ingest' result has no {DATASET_KEY!r}; rerun the ingest step")
    return context.resolve(str(ingest[DATASET_KEY]))


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


def train(context: StepContext, fast_dev_run: bool = False) -> dict[str, Any]:
    """Train the configured model; the package goes to `<run_dir>/model` (rank 0 only under DDP)."""
    from mlops_declare.train.data import training_data_from_prepared
    from mlops_declare.train.fit import train_model

    check_launch(context.loaded)

    data = training_data_from_prepared(prepared_dataset_dir(context))
    result = train_model(context.loaded, data, context.run_dir, fast_dev_run=fast_dev_run)
    if result.package_dir is not None:
        from mlops_declare.monitor.reference import package_reference_profile

        package_reference_profile(
            prepared_dataset_dir(context), result.package_dir, context.loaded.config.monitoring.drift
        )
    summary = result.to_json()
    summary["dataset_fingerprint"] = data.dataset_fingerprint
    if result.pruning_report is not None and result.package_dir is not None:
        summary["pruning_report_path"] = str(result.package_dir / "pruning_report.json")
    return summary


def evaluate(context: StepContext) -> dict[str, Any]:
    """Reload the package as serving would (JSON + safetensors) and score it on val and test again.

    Fails if the reloaded package scores differently from what training recorded, which would mean
    the package does not reproduce the trained model.
    """
    from mlops_declare.train.data import training_data_from_prepared
    from mlops_declare.train.evaluate import evaluate_split
    from mlops_declare.train.package import load_package

    trained = context.upstream.get("train")
    if trained is None or not trained.get("package_dir"):
        raise StepError("step 'evaluate' needs the result of step 'train' (a package_dir); run train first")
    import torch

    package = load_package(context.resolve(str(trained["package_dir"])))
    data = training_data_from_prepared(prepared_dataset_dir(context))
    names = list(package.spec["metrics"])
    # Same device as training's final scoring gives the same numbers; a CPU re-check of GPU scores
    # may differ in the last bits, so it gets a tolerance of about one borderline row.
    trained_on = package.spec.get("evaluated_on", "cpu")
    device = "cuda" if trained_on == "cuda" and torch.cuda.is_available() else "cpu"
    tolerance = 1e-5 if device == trained_on else 2e-2
    torch.set_float32_matmul_precision("highest")
    metrics = {
        split: evaluate_split(package.network, package.architecture, *data.splits[split], names, device=device)
        for split in ("val", "test")
    }
    recorded = trained.get("metrics", {})
    differences = {
        f"{split}.{name}": (recorded.get(split, {}).get(name), value)
        for split, values in metrics.items()
        for name, value in values.items()
        if recorded.get(split, {}).get(name) is None or abs(value - recorded[split][name]) > tolerance
    }
    if differences:
        raise StepError(f"the reloaded package scores differently from training: {differences}")
    write_json_atomic(context.run_dir / "evaluation.json", metrics)
    return {
        "package_dir": str(package.directory),
        "metrics": metrics,
        "objective": package.spec["objective"],
        "evaluated_on": device,
    }
