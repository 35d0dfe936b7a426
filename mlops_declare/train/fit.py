"""One training run from a validated config: Trainer from config, fit, prune, evaluate, export the package."""

from __future__ import annotations

import importlib
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.multiprocessing.spawn import ProcessRaisedException

from mlops_declare._version import __version__
from mlops_declare.config import LoadedConfig
from mlops_declare.config.pruning import pruning_schedule
from mlops_declare.config.trainer import ALLOWED_CALLBACKS, TrainerConfig
from mlops_declare.contracts.environment import LOCAL_RANK, NODE_RANK
from mlops_declare.contracts.layouts import EVALUATION_SPLITS
from mlops_declare.errors import TrainingError
from mlops_declare.train.checks import epochs_needed, higher_is_better, preflight, selected_metrics
from mlops_declare.train.data import TrainingData
from mlops_declare.train.evaluate import evaluate_split
from mlops_declare.train.module import ArrayDataModule, TaskModule
from mlops_declare.train.networks import architecture_for, build_network
from mlops_declare.train.package import export_package, load_checkpoint_state
from mlops_declare.train.precision import PrecisionDecision, apply_matmul_precision
from mlops_declare.train.pruning import PruningCallback
from mlops_declare.train.quiet import quiet_lightning
from mlops_declare.train.report import pruning_report

PACKAGE_DIRECTORY = "model"


@dataclass
class TrainingResult:
    """What a run produced; `package_dir` is None on DDP ranks other than 0."""

    package_dir: Path | None
    metrics: dict[str, dict[str, float]]
    precision: PrecisionDecision
    objective: str
    pruning_report: dict[str, Any] | None = None
    epochs_trained: int = 0
    weights_from: str = "last epoch"
    best_checkpoint: str | None = None
    log_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "package_dir": str(self.package_dir) if self.package_dir else None,
            "metrics": self.metrics,
            "precision_used": self.precision.used,
            "precision": self.precision.to_json(),
            "objective": self.objective,
            "objective_value": self.metrics.get("val", {}).get(self.objective),
            "epochs_trained": self.epochs_trained,
            "weights_from": self.weights_from,
            "best_checkpoint": self.best_checkpoint,
            "pruning": _pruning_summary(self.pruning_report),
        }


def train_model(
    loaded: LoadedConfig,
    data: TrainingData,
    output_dir: Path,
    *,
    fast_dev_run: bool = False,
    extra_callbacks: list[L.Callback] | None = None,
) -> TrainingResult:
    """Train `loaded.config.model` on `data` and write the package to `output_dir/model` (rank 0 only).

    `extra_callbacks` is for Python callers (benchmarks, notebooks); configs choose callbacks from
    the allow-list in `trainer.callbacks`. Lightning's own output shows only with MLOPS_DECLARE_VERBOSE=1.
    """
    with quiet_lightning():
        return _train_model(loaded, data, output_dir, fast_dev_run, extra_callbacks)


def _train_model(
    loaded: LoadedConfig,
    data: TrainingData,
    output_dir: Path,
    fast_dev_run: bool,
    extra_callbacks: list[L.Callback] | None,
) -> TrainingResult:
    config = loaded.config
    trainer_config, pruning = config.trainer, config.pruning
    gradual = pruning_schedule(pruning)
    decision = preflight(loaded, fast_dev_run)
    apply_matmul_precision(decision)
    L.seed_everything(trainer_config.seed, workers=True, verbose=False)
    architecture = architecture_for(config.model, data)
    metric_names = selected_metrics(trainer_config, config.model.task)
    network = build_network(architecture)
    module = TaskModule(network, architecture, trainer_config, metric_names, decision.used)
    pruning_callback = (
        PruningCallback(
            gradual,
            trainer_config.seed,
            monitor=f"val/{trainer_config.checkpointing.metric}",
            higher_is_better=higher_is_better(trainer_config.checkpointing.metric),
        )
        if gradual
        else None
    )
    output_dir = Path(output_dir)
    clear_previous_outputs(output_dir)
    trainer = build_trainer(
        trainer_config,
        decision,
        output_dir,
        data,
        config.data.batch_size,
        pruning_callback,
        fast_dev_run,
        extra_callbacks,
    )
    fit(trainer, module, ArrayDataModule(data, config.data.batch_size))
    if not trainer.is_global_zero:
        return TrainingResult(None, {}, decision, trainer_config.objective)
    return finish(loaded, data, output_dir, trainer, module, architecture, metric_names, decision, pruning_callback)


def clear_previous_outputs(output_dir: Path) -> None:
    """Rerunning a step for the same run starts clean: stale checkpoints would outlive `save_top_k`.

    Only the launching process clears; DDP workers (LOCAL_RANK/NODE_RANK > 0) find it done.
    """
    if os.environ.get(LOCAL_RANK, "0") != "0" or os.environ.get(NODE_RANK, "0") != "0":
        return
    for name in ("checkpoints", "logs"):
        shutil.rmtree(output_dir / name, ignore_errors=True)


def build_trainer(
    trainer: TrainerConfig,
    decision: PrecisionDecision,
    output_dir: Path,
    data: TrainingData,
    batch_size: int,
    pruning_callback: PruningCallback | None,
    fast_dev_run: bool,
    extra_callbacks: list[L.Callback] | None = None,
) -> L.Trainer:
    """A Lightning Trainer with every trainer key applied."""
    callbacks: list[Any] = [checkpoint_callback(trainer, output_dir)]
    if trainer.early_stopping is not None:
        from lightning.pytorch.callbacks import EarlyStopping

        settings = trainer.early_stopping
        callbacks.append(
            EarlyStopping(
                monitor=f"val/{settings.metric}",
                mode=_mode(settings.metric),
                patience=settings.patience,
                min_delta=settings.min_delta,
            )
        )
    if pruning_callback is not None:
        callbacks.append(pruning_callback)
    callbacks += allowed_callbacks(trainer)
    callbacks += extra_callbacks or []
    batches = max(1, len(data.splits["train"][0]) // (batch_size * _process_count(trainer)))
    return L.Trainer(
        accelerator=decision.accelerator,
        # Lightning's CPU accelerator counts processes; device indices only mean something on GPUs.
        devices=len(trainer.devices)
        if decision.accelerator == "cpu" and isinstance(trainer.devices, list)
        else trainer.devices,
        strategy=trainer.strategy,
        num_nodes=trainer.num_nodes,
        precision=decision.used,  # type: ignore[arg-type]
        max_epochs=trainer.max_epochs,
        min_epochs=epochs_needed(pruning_callback.pruning) if pruning_callback and not fast_dev_run else None,
        gradient_clip_val=trainer.gradient_clip_val,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        deterministic=trainer.deterministic,
        logger=build_logger(trainer, output_dir),
        callbacks=callbacks,
        enable_progress_bar=trainer.progress_bar,
        enable_model_summary=False,
        default_root_dir=output_dir,
        log_every_n_steps=min(50, batches),
        fast_dev_run=fast_dev_run,
    )


def _process_count(trainer: TrainerConfig) -> int:
    """Training processes (each sees its share of the batches); `auto` devices count as one."""
    if isinstance(trainer.devices, int):
        devices = trainer.devices
    else:
        devices = len(trainer.devices) if isinstance(trainer.devices, list) else 1
    return devices * trainer.num_nodes


def checkpoint_callback(trainer: TrainerConfig, output_dir: Path) -> Any:
    from lightning.pytorch.callbacks import ModelCheckpoint

    metric = trainer.checkpointing.metric
    return ModelCheckpoint(
        dirpath=output_dir / "checkpoints",
        filename=f"epoch{{epoch:03d}}-{metric}{{val/{metric}:.4f}}",
        auto_insert_metric_name=False,
        monitor=f"val/{metric}",
        mode=_mode(metric),
        save_top_k=trainer.checkpointing.save_top_k,
    )


def build_logger(trainer: TrainerConfig, output_dir: Path) -> Any:
    if trainer.logger == "tensorboard":
        try:
            importlib.import_module("tensorboard")
        except ImportError:
            raise TrainingError(
                "trainer.logger: 'tensorboard' needs the tensorboard package; install it with `pip install tensorboard`"
            ) from None
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=output_dir, name="logs", version="")
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=output_dir, name="logs", version="")


def allowed_callbacks(trainer: TrainerConfig) -> list[Any]:
    """Instantiate `trainer.callbacks` from the allow-list; no other import path is reachable from config."""
    instances = []
    for index, callback in enumerate(trainer.callbacks):
        module_name, _, class_name = ALLOWED_CALLBACKS[callback.name].rpartition(".")
        factory = getattr(importlib.import_module(module_name), class_name)
        try:
            instances.append(factory(**callback.params))
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"trainer.callbacks.{index}.params: {callback.name!r} rejected them: {exc}") from None
    return instances


def _mode(metric: str) -> str:
    return "max" if higher_is_better(metric) else "min"


def fit(trainer: L.Trainer, module: TaskModule, datamodule: ArrayDataModule) -> None:
    with quiet_lightning():
        try:
            trainer.fit(module, datamodule=datamodule)
        except ProcessRaisedException as exc:
            # ddp_spawn re-raises a worker's error as text with its traceback; keep the worker's message.
            last = str(exc).strip().splitlines()[-1]
            prefix = f"{TrainingError.__module__}.{TrainingError.__name__}: "
            if last.startswith(prefix):
                raise TrainingError(last.removeprefix(prefix)) from None
            raise TrainingError(f"a training process failed: {last}") from None


def finish(  # noqa: PLR0913 - budget: one of the functions above the argument limit when it was set (0.3.0); do not add more
    loaded: LoadedConfig,
    data: TrainingData,
    output_dir: Path,
    trainer: L.Trainer,
    module: TaskModule,
    architecture: dict[str, Any],
    metric_names: list[str],
    decision: PrecisionDecision,
    pruning_callback: PruningCallback | None,
) -> TrainingResult:
    """Rank 0 after fit: pick the weights, finish pruning, evaluate on val/test, write the package."""
    config = loaded.config
    network: nn.Module = module.network
    weights_from, best = "last epoch", _best_checkpoint(trainer)
    if pruning_callback is None and best:
        state = load_checkpoint_state(Path(best))
        network.load_state_dict(
            {key.removeprefix("network."): value for key, value in state.items() if key.startswith("network.")}
        )
        weights_from = f"best checkpoint ({Path(best).name})"
    elif pruning_callback is not None:
        # Pruned runs pick the best fine-tuning epoch: earlier checkpoints are less sparse than configured.
        epoch = pruning_callback.restore_best(network)
        if epoch is not None:
            weights_from = f"best fine-tuning epoch {epoch} by {pruning_callback.monitor}"
    # Final scores on the training device: a GPU-sized model would take minutes on the CPU.
    device = "cuda" if decision.accelerator == "gpu" else "cpu"
    network = network.float().eval()
    report = None
    if pruning_callback is not None:
        network = network.cpu()
        dense = pruning_callback.dense_network(architecture)
        network, final_architecture = pruning_callback.finalize(network, architecture, trainer.current_epoch)
        dense = dense if dense is not None else pruning_callback.dense_network(architecture)
        assert dense is not None
        report = pruning_report(
            pruning_callback.pruning,
            pruning_callback.steps,
            (dense, architecture),
            (network, final_architecture),
            data,
            metric_names,
        )
        architecture = final_architecture
    known_val = (
        _scores_already_measured(module, trainer, decision, best, metric_names) if pruning_callback is None else None
    )
    metrics = final_metrics(network, architecture, data, metric_names, device, known_val)
    _log_final_metrics(trainer, metrics)
    spec = {**package_spec(loaded, data, architecture, decision, metric_names, weights_from), "evaluated_on": device}
    package_dir = export_package(
        output_dir / PACKAGE_DIRECTORY, network, spec, metrics, loaded.snapshot, data.preprocessing_path, report
    )
    return TrainingResult(
        package_dir=package_dir,
        metrics=metrics,
        precision=decision,
        objective=config.trainer.objective,
        pruning_report=report,
        epochs_trained=trainer.current_epoch,
        weights_from=weights_from,
        best_checkpoint=best,
        log_dir=Path(trainer.logger.log_dir) if trainer.logger and trainer.logger.log_dir else None,
    )


def final_metrics(
    network: nn.Module,
    architecture: dict[str, Any],
    data: TrainingData,
    metric_names: list[str],
    device: str,
    known_val: dict[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Val and test scores in full float32 (TF32 off), so re-scoring the package reproduces them.

    `known_val`: val scores training already measured on exactly these weights in float32 (see
    `_scores_already_measured`); the val split is then not scored a second time.
    """
    matmul = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        return {
            split: known_val
            if split == "val" and known_val is not None
            else evaluate_split(network, architecture, *data.splits[split], metric_names, device=device)
            for split in EVALUATION_SPLITS
        }
    finally:
        torch.set_float32_matmul_precision(matmul)


def _scores_already_measured(
    module: TaskModule, trainer: L.Trainer, decision: PrecisionDecision, best: str | None, metric_names: list[str]
) -> dict[str, float] | None:
    """The best checkpoint's val scores as logged at its epoch, when they are what a float32 re-score
    would give: one CPU process at 32-true (no autocast, no TF32, no DDP padding)."""
    if best is None or decision.accelerator != "cpu" or decision.used != "32-true" or trainer.world_size != 1:
        return None
    match = re.match(r"epoch(\d+)-", Path(best).name)
    scores = module.validation_history.get(int(match.group(1))) if match else None
    if scores is None or any(name not in scores or not math.isfinite(scores[name]) for name in metric_names):
        return None
    return {name: scores[name] for name in metric_names}


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    path = getattr(callback, "best_model_path", "") if callback is not None else ""
    return path if path and Path(path).is_file() else None


def _log_final_metrics(trainer: L.Trainer, metrics: dict[str, dict[str, float]]) -> None:
    if trainer.logger is None:
        return
    flat = {f"final_{split}/{name}": value for split, values in metrics.items() for name, value in values.items()}
    trainer.logger.log_metrics(
        {key: value for key, value in flat.items() if math.isfinite(value)}, step=trainer.global_step
    )
    trainer.logger.save()


def package_spec(
    loaded: LoadedConfig,
    data: TrainingData,
    architecture: dict[str, Any],
    decision: PrecisionDecision,
    metric_names: list[str],
    weights_from: str,
) -> dict[str, Any]:
    """The model spec: everything serving needs to rebuild, feed and interpret the network."""
    import lightning

    config = loaded.config
    return {
        "name": config.model.name,
        "task": config.model.task,
        "architecture": architecture,
        "input_schema": data.input_schema(),
        "class_names": data.class_names or _default_class_names(architecture),
        "precision": decision.to_json(),
        "precision_used": decision.used,
        "metrics": metric_names,
        "objective": config.trainer.objective,
        "objective_higher_is_better": higher_is_better(config.trainer.objective),
        "weights_from": weights_from,
        "dataset_fingerprint": data.dataset_fingerprint,
        "config_fingerprint": loaded.fingerprint,
        "versions": {"mlops_declare": __version__, "torch": torch.__version__, "lightning": lightning.__version__},
    }


def _default_class_names(architecture: dict[str, Any]) -> list[str] | None:
    if architecture["task"] == "regression":
        return None
    count = 2 if architecture["task"] == "binary" else int(architecture["num_outputs"])
    return [str(index) for index in range(count)]


def _pruning_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("method", "scope", "schedule", "final_sparsity", "speedup", "size_ratio")
    summary = {key: report[key] for key in keys}
    summary["before"] = {
        key: report["before"][key] for key in ("parameters", "nonzero_parameters", "package_bytes", "cpu_latency_ms")
    }
    summary["after"] = {
        key: report["after"][key] for key in ("parameters", "nonzero_parameters", "package_bytes", "cpu_latency_ms")
    }
    return summary
