"""Checks that need no data and no Lightning: run before data preparation so a bad setup fails in seconds."""

from __future__ import annotations

from mlops_declare.config import LoadedConfig
from mlops_declare.config.model import HIGHER_IS_BETTER, METRICS_BY_TASK
from mlops_declare.config.pruning import GradualPruning, pruning_schedule
from mlops_declare.config.trainer import TrainerConfig
from mlops_declare.errors import TrainingError
from mlops_declare.train.precision import PrecisionDecision, resolve_precision


def preflight(loaded: LoadedConfig, fast_dev_run: bool = False) -> PrecisionDecision:
    """Checks that need no data (precision on this machine, schedule length, watched metrics), run before data preparation."""
    config = loaded.config
    pruning = pruning_schedule(config.pruning)
    if pruning is not None and not fast_dev_run:
        check_schedule_fits(config.trainer, pruning)
    if pruning is not None and config.trainer.strategy == "ddp_spawn":
        raise TrainingError("pruning with trainer.strategy 'ddp_spawn' is not supported; use strategy 'ddp'")
    check_monitored_metrics(config.trainer, selected_metrics(config.trainer, config.model.task))
    return resolve_precision(config.trainer)


def epochs_needed(pruning: GradualPruning) -> int:
    """Training epochs the schedule needs: up to `end_epoch`, then `fine_tune_epochs`."""
    return pruning.end_epoch + 1 + pruning.fine_tune_epochs


def selected_metrics(trainer: TrainerConfig, task: str) -> list[str]:
    """The metrics a run computes: `trainer.metrics`, or every metric of the task; `loss` always."""
    available = METRICS_BY_TASK[task]
    names: list[str] = list(trainer.metrics) or list(available)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise TrainingError(
            f"trainer.metrics: {', '.join(repr(name) for name in unknown)} not computed for task {task!r}; "
            f"allowed: {', '.join(repr(name) for name in available)}"
        )
    return names if "loss" in names else [*names, "loss"]


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better; an unknown metric is an error, never a guess."""
    table: dict[str, bool] = {name: value for name, value in HIGHER_IS_BETTER.items()}
    if metric not in table:
        raise TrainingError(f"metric {metric!r} is not one the trainer computes; known: {', '.join(table)}")
    return table[metric]


def check_schedule_fits(trainer: TrainerConfig, pruning: GradualPruning) -> None:
    needed = epochs_needed(pruning)
    method: str = pruning.method
    last = "pruning.prune_epoch" if method == "semi_structured" else "pruning.end_epoch"
    if trainer.max_epochs < needed:
        raise TrainingError(
            f"trainer.max_epochs ({trainer.max_epochs}) is shorter than the pruning schedule: "
            f"{last} ({pruning.end_epoch}) + 1 + pruning.fine_tune_epochs ({pruning.fine_tune_epochs}) "
            f"= {needed} epochs; raise trainer.max_epochs or lower {last}"
        )


def check_monitored_metrics(trainer: TrainerConfig, metric_names: list[str]) -> None:
    """Early stopping, checkpointing and the objective must watch a metric the run computes."""
    watched = {"trainer.objective": trainer.objective, "trainer.checkpointing.metric": trainer.checkpointing.metric}
    if trainer.early_stopping is not None:
        watched["trainer.early_stopping.metric"] = trainer.early_stopping.metric
    for key, name in watched.items():
        if name not in metric_names:
            raise TrainingError(f"{key}: {name!r} is not computed by this run; computed: {', '.join(metric_names)}")
