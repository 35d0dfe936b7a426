"""Schema of the `model` group: architecture kind, task and layer sizes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_declare.config.base import Fraction, Name, PositiveInt, StrictModel

Task = Literal["binary", "multiclass", "regression"]
Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]


class ModelBase(StrictModel):
    """Keys shared by every architecture."""

    name: Name
    """Registered model name (the `digits` in `digits@production`)."""
    task: Task
    """binary and multiclass classification, or regression; loss and metrics follow it."""
    num_classes: PositiveInt | None = None
    """Number of classes for multiclass; inferred from the data when omitted."""
    dropout: Fraction = 0.0
    """Dropout probability."""

    @model_validator(mode="after")
    def _classes_match_task(self) -> ModelBase:
        if self.num_classes is not None and self.task != "multiclass":
            raise ValueError(f"`num_classes` is only for task 'multiclass', not {self.task!r}")
        if self.task == "multiclass" and self.num_classes == 1:
            raise ValueError("a multiclass task needs `num_classes` >= 2")
        return self


class MlpModel(ModelBase):
    """A multilayer perceptron for tabular data."""

    kind: Literal["mlp"]
    hidden: list[PositiveInt] = Field(default_factory=lambda: [64, 32], min_length=1)
    """Width of each hidden layer."""
    activation: Activation = "relu"
    """Activation between layers."""
    batch_norm: bool = False
    """Batch normalisation after each hidden layer."""
    embedding_dim: PositiveInt = 8
    """Embedding width for each categorical feature."""


class CnnModel(ModelBase):
    """A small convolutional network for images (e.g. 8x8 digits)."""

    kind: Literal["cnn"]
    channels: list[PositiveInt] = Field(default_factory=lambda: [16, 32], min_length=1)
    """Output channels of each convolution block."""
    kernel_size: Annotated[int, Field(ge=1, le=7)] = 3
    """Convolution kernel size."""
    hidden: PositiveInt = 64
    """Width of the dense layer before the output."""
    activation: Activation = "relu"
    """Activation after each block."""


class TransformerModel(ModelBase):
    """A transformer encoder over feature tokens (tabular) or a sequence."""

    kind: Literal["transformer"]
    d_model: PositiveInt = 64
    """Embedding width."""
    n_heads: PositiveInt = 4
    """Attention heads; must divide `d_model`."""
    n_layers: PositiveInt = 2
    """Encoder layers."""
    ff_dim: PositiveInt = 128
    """Feed-forward width."""
    seq_len: PositiveInt | None = None
    """Sequence length for synthetic sequence inputs; tabular inputs use one token per feature."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerModel:
        if self.d_model % self.n_heads:
            raise ValueError(f"`n_heads` ({self.n_heads}) must divide `d_model` ({self.d_model})")
        return self


ModelConfig = Annotated[MlpModel | CnnModel | TransformerModel, Field(discriminator="kind")]

MetricName = Literal["accuracy", "f1", "auroc", "precision", "recall", "r2", "mse", "mae", "loss"]
"""Every metric the trainer computes (torchmetrics names); gates, objectives and monitoring name these."""

METRICS_BY_TASK: dict[str, tuple[MetricName, ...]] = {
    "binary": ("accuracy", "f1", "auroc", "precision", "recall", "loss"),
    "multiclass": ("accuracy", "f1", "auroc", "precision", "recall", "loss"),
    "regression": ("mse", "mae", "r2", "loss"),
}
"""Every metric the trainer can compute, per task (torchmetrics names)."""

HIGHER_IS_BETTER: dict[MetricName, bool] = {
    "accuracy": True,
    "f1": True,
    "auroc": True,
    "precision": True,
    "recall": True,
    "r2": True,
    "mse": False,
    "mae": False,
    "loss": False,
}
