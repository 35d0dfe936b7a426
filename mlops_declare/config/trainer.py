"""Schema of the `trainer` group: Lightning Trainer settings, precision, optimiser, callbacks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_declare.config.base import NonNegativeInt, PositiveFloat, PositiveInt, StrictModel
from mlops_declare.config.model import MetricName

Precision = Literal[
    "auto",
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
]
"""Lightning's precision strings, plus `auto` (bf16-mixed where the GPU supports bf16, else 32-true)."""

PRECISION_ALIASES = {
    "16": "16-mixed",
    "fp16": "16-mixed",
    "bf16": "bf16-mixed",
    "32": "32-true",
    "fp32": "32-true",
    "64": "64-true",
    "fp64": "64-true",
    "half": "16-true",
    "fp8": "transformer-engine",
}
"""Common spellings that Lightning does not accept (or only as legacy aliases) -> the exact string."""

Accelerator = Literal["auto", "cpu", "gpu", "cuda"]
Strategy = Literal["auto", "ddp", "ddp_spawn", "fsdp"]
Split = Literal["val", "test"]

CallbackName = Literal[
    "learning_rate_monitor",
    "model_summary",
    "rich_model_summary",
    "timer",
    "stochastic_weight_averaging",
    "device_stats_monitor",
]
"""The callbacks a config may name (the JSON Schema lists them)."""

ALLOWED_CALLBACKS: dict[CallbackName, str] = {
    "learning_rate_monitor": "lightning.pytorch.callbacks.LearningRateMonitor",
    "model_summary": "lightning.pytorch.callbacks.ModelSummary",
    "rich_model_summary": "lightning.pytorch.callbacks.RichModelSummary",
    "timer": "lightning.pytorch.callbacks.Timer",
    "stochastic_weight_averaging": "lightning.pytorch.callbacks.StochasticWeightAveraging",
    "device_stats_monitor": "lightning.pytorch.callbacks.DeviceStatsMonitor",
}
"""The only classes a config may instantiate as callbacks: name in YAML -> import path in code."""


class Optimizer(StrictModel):
    """Optimiser and its hyperparameters."""

    name: Literal["adam", "adamw", "sgd"] = "adamw"
    """torch.optim class."""
    lr: PositiveFloat = 1e-3
    """Learning rate."""
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    """L2 penalty."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    """Momentum (sgd only)."""


class LrScheduler(StrictModel):
    """Learning-rate schedule, stepped once per epoch."""

    name: Literal["none", "cosine", "step", "onecycle"] = "none"
    """Schedule shape."""
    step_size: PositiveInt = 10
    """Epochs between decays (step)."""
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    """Decay factor (step)."""
    warmup_epochs: NonNegativeInt = 0
    """Linear warm-up epochs before the schedule."""


class EarlyStopping(StrictModel):
    """Stop when the monitored validation metric stops improving."""

    metric: str = "loss"
    """Validation metric to watch (one the task computes)."""
    patience: PositiveInt = 5
    """Epochs without improvement before stopping."""
    min_delta: Annotated[float, Field(ge=0.0)] = 0.0
    """Smallest change that counts as improvement."""


class Checkpointing(StrictModel):
    """Keep the best checkpoints by a validation metric."""

    metric: str = "loss"
    """Validation metric that ranks checkpoints."""
    save_top_k: Annotated[int, Field(ge=-1)] = 1
    """How many best checkpoints to keep (-1: all)."""


class Callback(StrictModel):
    """An extra Lightning callback, chosen from an allow-list; no arbitrary import paths."""

    name: CallbackName
    """One of the allowed callback names."""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Keyword arguments for the callback."""


class TrainerConfig(StrictModel):
    """How Lightning trains: devices, precision, epochs, optimiser, early stopping, logging."""

    accelerator: Accelerator = "auto"
    """Where to train: auto, cpu, gpu (alias cuda)."""
    devices: PositiveInt | Literal["auto"] | list[NonNegativeInt] = "auto"
    """Number of devices, `auto`, or a list of device indices."""
    strategy: Strategy = "auto"
    """Distribution strategy; ddp on CPU uses gloo."""
    num_nodes: PositiveInt = 1
    """Machines taking part."""
    precision: Precision = "32-true"
    """Lightning precision string, or auto."""
    matmul_precision: Literal["highest", "high", "medium"] = "highest"
    """torch.set_float32_matmul_precision; `high` enables TF32 on Ampere+ GPUs."""
    max_epochs: PositiveInt = 20
    """Upper bound on epochs."""
    gradient_clip_val: Annotated[float, Field(ge=0.0)] | None = None
    """Clip gradients to this norm; none disables clipping."""
    accumulate_grad_batches: PositiveInt = 1
    """Batches per optimiser step."""
    optimizer: Optimizer = Field(default_factory=Optimizer)
    """Optimiser."""
    lr_scheduler: LrScheduler = Field(default_factory=LrScheduler)
    """Learning-rate schedule."""
    early_stopping: EarlyStopping | None = None
    """Early stopping, or none."""
    checkpointing: Checkpointing = Field(default_factory=Checkpointing)
    """Best-k checkpoints."""
    metrics: list[MetricName] = Field(default_factory=list)
    """Metrics to compute on val and test; empty means every metric of the task."""
    objective: MetricName = "loss"
    """Metric that ranks sweep runs and checkpoints."""
    seed: int = 42
    """Global seed."""
    deterministic: bool = False
    """Force deterministic algorithms (slower)."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    logger: Literal["csv", "tensorboard"] = "csv"
    """Where metrics are logged."""
    progress_bar: bool = True
    """Show a progress bar."""
    callbacks: list[Callback] = Field(default_factory=list)
    """Extra callbacks from the allow-list."""

    @model_validator(mode="after")
    def _consistent(self) -> TrainerConfig:
        if self.accelerator == "cpu" and self.strategy == "fsdp":
            raise ValueError("strategy 'fsdp' needs GPUs; use 'ddp' or 'auto' on cpu")
        if self.precision == "transformer-engine" and self.strategy == "ddp_spawn":
            raise ValueError("precision 'transformer-engine' does not work with strategy 'ddp_spawn'")
        if isinstance(self.devices, list) and len(set(self.devices)) != len(self.devices):
            raise ValueError(f"`devices` lists a device twice: {self.devices}")
        return self


HOPPER = (9, 0)
AMPERE = (8, 0)


def precision_problem(
    precision: str,
    accelerator: str,
    device_capability: tuple[int, int] | None,
    has_cuda: bool,
) -> str | None:
    """Why `precision` cannot run on this accelerator, or None.

    The compiler calls it with the configured accelerator, `device_capability=None` and
    `has_cuda=False` (only what the config says is known). Training calls it again with the
    accelerator it resolved on the real machine ('cpu' when `auto` found no GPU) and the GPU's
    compute capability, so both report the same wording.
    """
    on_cpu = accelerator == "cpu"
    if precision in ("16-mixed", "16-true") and on_cpu:
        return f"{precision!r} needs a CUDA GPU; this run has only CPU (use 32-true or bf16-mixed)"
    if precision == "transformer-engine":
        if on_cpu:
            return "'transformer-engine' (FP8) needs an NVIDIA Hopper GPU (H100/H200); this run has only CPU (use bf16-mixed)"
        if device_capability is not None and device_capability < HOPPER:
            major, minor = device_capability
            return (
                f"'transformer-engine' (FP8) needs an NVIDIA Hopper GPU (compute capability 9.0+); "
                f"this GPU has {major}.{minor} (use bf16-mixed)"
            )
    if precision in ("bf16-mixed", "bf16-true") and has_cuda and device_capability is not None:
        if device_capability < AMPERE:
            major, minor = device_capability
            return f"{precision!r} needs an Ampere or newer GPU (compute capability 8.0+); this GPU has {major}.{minor} (use 16-mixed)"
    return None


def auto_precision(device_capability: tuple[int, int] | None, has_cuda: bool) -> str:
    """What `precision: auto` means on a device: bf16-mixed where the GPU supports bf16, else 32-true."""
    if has_cuda and device_capability is not None and device_capability >= AMPERE:
        return "bf16-mixed"
    return "32-true"
