"""Cross-group checks: each group is valid alone, these catch groups that contradict each other."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlops_declare.config import LoadedConfig, ProjectConfig
from mlops_declare.config.data import BUILTIN_CLASSES, BUILTIN_TASKS, BuiltinSource, Feature, declared_features
from mlops_declare.config.model import METRICS_BY_TASK, CnnModel, MlpModel
from mlops_declare.config.pruning import GradualPruning
from mlops_declare.config.trainer import precision_problem
from mlops_declare.errors import CompileError, ConfigIssue

Problem = tuple[str, str]
"""(dotted path, message)."""


def computed_metrics(config: ProjectConfig) -> tuple[str, ...]:
    """Metrics the trainer computes on val and test for this config."""
    return tuple(config.trainer.metrics) or METRICS_BY_TASK[config.model.task]


def check_precision(config: ProjectConfig) -> Iterator[Problem]:
    trainer = config.trainer
    problem = precision_problem(trainer.precision, trainer.accelerator, None, has_cuda=False)
    if problem:
        yield "trainer.precision", f"{problem} [accelerator: {trainer.accelerator}]"


def check_metrics(config: ProjectConfig) -> Iterator[Problem]:
    task = config.model.task
    possible = METRICS_BY_TASK[task]
    for index, metric in enumerate(config.trainer.metrics):
        if metric not in possible:
            yield f"trainer.metrics.{index}", _not_computed(metric, task, possible)
    computed = computed_metrics(config)
    named: list[tuple[str, str]] = [
        ("trainer.objective", config.trainer.objective),
        ("trainer.checkpointing.metric", config.trainer.checkpointing.metric),
    ]
    if config.trainer.early_stopping is not None:
        named.append(("trainer.early_stopping.metric", config.trainer.early_stopping.metric))
    if config.monitoring.performance is not None:
        named.append(("monitoring.performance.metric", config.monitoring.performance.metric))
    for stage_index, stage in enumerate(config.registry.stages):
        for threshold_index, threshold in enumerate(stage.gate.thresholds):
            path = f"registry.stages.{stage_index}.gate.thresholds.{threshold_index}.metric"
            named.append((path, threshold.metric))
    for path, name in named:
        if name not in computed:
            yield path, _not_computed(name, task, computed)


def _not_computed(metric: str, task: str, computed: tuple[str, ...]) -> str:
    from mlops_declare.config.messages import suggest

    return f"metric {metric!r} is not computed by the trainer for task {task!r}; computed: {', '.join(computed)}{suggest(metric, computed)}"


def check_features(config: ProjectConfig) -> Iterator[Problem]:
    features = declared_features(config.data)
    if features is None:
        return
    names = [feature.name for feature in features]
    yield from _check_drift_columns(config, names)
    yield from _check_serving_inputs(config, names)
    yield from _check_model_fits_features(config, features)


def _check_drift_columns(config: ProjectConfig, names: list[str]) -> Iterator[Problem]:
    from mlops_declare.config.messages import suggest

    drift = config.monitoring.drift
    for index, column in enumerate(drift.columns):
        if column not in names:
            yield (
                f"monitoring.drift.columns.{index}",
                f"{column!r} is not a feature of data {config.data.name!r}{suggest(column, names)}",
            )
    for column in drift.per_column:
        if column not in names:
            yield (
                f"monitoring.drift.per_column.{column}",
                f"{column!r} is not a feature of data {config.data.name!r}{suggest(column, names)}",
            )


def _check_serving_inputs(config: ProjectConfig, names: list[str]) -> Iterator[Problem]:
    inputs = config.serving.inputs
    if not inputs:
        return
    unknown = [name for name in inputs if name not in names]
    missing = [name for name in names if name not in inputs]
    if unknown:
        yield "serving.inputs", f"not features of data {config.data.name!r}: {', '.join(unknown)}"
    if missing:
        yield "serving.inputs", f"features the model needs are missing: {', '.join(missing)}"


def _check_model_fits_features(config: ProjectConfig, features: list[Feature]) -> Iterator[Problem]:
    images = [feature for feature in features if feature.type == "image"]
    if isinstance(config.model, CnnModel) and not images:
        yield "model.kind", f"a cnn needs an image feature; data {config.data.name!r} has none (use mlp or transformer)"
    if images and len(features) > 1:
        yield "data.columns.features", "an image feature cannot be mixed with other features"


def check_task(config: ProjectConfig) -> Iterator[Problem]:
    source = config.data.source
    if not isinstance(source, BuiltinSource):
        return
    task = BUILTIN_TASKS[source.dataset]
    if config.model.task != task:
        yield "model.task", f"{config.model.task!r} does not fit dataset {source.dataset!r}, which is a {task} task"
    classes = BUILTIN_CLASSES[source.dataset]
    if config.model.num_classes is not None and config.model.num_classes != classes:
        yield "model.num_classes", f"dataset {source.dataset!r} has {classes} classes, not {config.model.num_classes}"


def check_pruning(config: ProjectConfig) -> Iterator[Problem]:
    pruning = config.pruning
    if not isinstance(pruning, GradualPruning):
        return
    if pruning.method == "neurons" and not isinstance(config.model, MlpModel):
        yield (
            "pruning.method",
            f"'neurons' removes hidden units of an mlp; model kind is {config.model.kind!r} (use l1_unstructured or ln_structured)",
        )
    if pruning.end_epoch >= config.trainer.max_epochs:
        yield (
            "pruning.end_epoch",
            (
                f"pruning ends at epoch {pruning.end_epoch} but training stops after {config.trainer.max_epochs} epochs "
                "(raise trainer.max_epochs or lower pruning.end_epoch)"
            ),
        )


def check_orchestration(config: ProjectConfig) -> Iterator[Problem]:
    orchestration = config.orchestration
    if orchestration.triggers.new_data and not orchestration.triggers.data_asset:
        yield (
            "orchestration.triggers.data_asset",
            "new_data triggering needs the URI of the asset to watch, e.g. file:///data/incoming",
        )
    for key in ("queue", "training_queue"):
        if orchestration.task_runner != "celery" and getattr(orchestration, key) is not None:
            yield f"orchestration.{key}", f"queues apply to task_runner 'celery', not {orchestration.task_runner!r}"


def check_registry(config: ProjectConfig) -> Iterator[Problem]:
    reference = config.serving.model
    if reference is None:
        return
    stage_names = {stage.name for stage in config.registry.stages} | set(config.registry.aliases) | {"latest"}
    if "@" in reference:
        label = reference.split("@", 1)[1]
        if label not in stage_names:
            yield (
                "serving.model",
                f"{reference!r} names stage or alias {label!r}, which the registry does not declare; declared: {', '.join(sorted(stage_names))}",
            )


def check_serving(config: ProjectConfig) -> Iterator[Problem]:
    """Batching against the limits and the IO; rollout candidates and log columns against the other groups."""
    from mlops_declare.contracts.seams import INFERENCE_LOG_COLUMNS

    serving = config.serving
    batching, limits = serving.batching, serving.limits
    if batching.enabled and batching.max_latency_ms >= limits.timeout_s * 1000:
        yield (
            "serving.batching.max_latency_ms",
            (
                f"a request may wait {batching.max_latency_ms} ms for a batch but the deadline is {limits.timeout_s} s "
                "(serving.limits.timeout_s); lower max_latency_ms"
            ),
        )
    features = declared_features(config.data)
    if (
        batching.enabled
        and features is not None
        and any(f.type == "image" for f in features)
        and batching.max_batch_size > 4096
    ):
        yield (
            "serving.batching.max_batch_size",
            f"{batching.max_batch_size} images per forward pass is more than 4096; lower it",
        )
    for feature in features or []:
        if feature.name in INFERENCE_LOG_COLUMNS:
            yield (
                "data.columns.features",
                (
                    f"feature {feature.name!r} has the name of a fixed inference-log column; rename it "
                    f"(taken: {', '.join(INFERENCE_LOG_COLUMNS)})"
                ),
            )
    candidate = serving.rollout.candidate
    if candidate is not None and "@" in candidate:
        label = candidate.split("@", 1)[1]
        labels = {stage.name for stage in config.registry.stages} | set(config.registry.aliases)
        if label not in labels:
            yield (
                "serving.rollout.candidate",
                f"{candidate!r} names stage or alias {label!r}, which the registry does not declare; declared: {', '.join(sorted(labels))}",
            )
    if candidate is not None and candidate == (serving.model or f"{config.model.name}@production"):
        yield "serving.rollout.candidate", f"the candidate {candidate!r} is the served model itself"


CHECKS: tuple[Callable[[ProjectConfig], Iterator[Problem]], ...] = (
    check_serving,
    check_precision,
    check_metrics,
    check_features,
    check_task,
    check_pruning,
    check_orchestration,
    check_registry,
)


def cross_group_problems(loaded: LoadedConfig) -> list[ConfigIssue]:
    """Every contradiction between groups, each located in the file that set it."""
    return [
        ConfigIssue(loaded.locate(path), path, message) for check in CHECKS for path, message in check(loaded.config)
    ]


def ensure_consistent(loaded: LoadedConfig) -> None:
    problems = cross_group_problems(loaded)
    if problems:
        raise CompileError(problems)
