"""Model factories: an architecture (plain JSON) -> torch module, for the mlp, cnn and transformer kinds.

The architecture dict is what the model package stores, so a package is rebuilt from JSON and
safetensors alone; pruning that removes units edits the architecture (e.g. `hidden`) too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mlops_declare.config.model import CnnModel, MlpModel, TransformerModel
from mlops_declare.errors import TrainingError
from mlops_declare.train.data import TrainingData

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def architecture_for(model: MlpModel | CnnModel | TransformerModel, data: TrainingData) -> dict[str, Any]:
    """The JSON architecture of `model` fitted to `data` (input shape, outputs, target scaling)."""
    check_task_fits_classes(model, data)
    architecture = model.model_dump(mode="json", exclude={"name", "num_classes"})
    architecture["input_shape"] = list(data.input_shape)
    architecture["num_outputs"] = _num_outputs(model, data)
    architecture["categorical"] = [[item.index, item.cardinality] for item in data.categorical]
    if model.task == "regression":
        targets = data.splits["train"][1].astype("float64")
        architecture["target_mean"] = float(targets.mean())
        architecture["target_std"] = float(targets.std()) or 1.0
    _check_fits(model, data)
    return architecture


def check_task_fits_classes(model: MlpModel | CnnModel | TransformerModel, data: TrainingData) -> None:
    """A binary task on a target with more than two classes stops before training, naming the fix."""
    if model.task != "binary" or data.splits["train"][1].dtype.kind == "f":
        return
    classes = data.num_classes()
    if classes > 2:
        names = data.class_names or [str(index) for index in range(classes)]
        shown = ", ".join(names[:5]) + (", ..." if classes > 5 else "")
        target = f"target {data.target!r}" if data.target else "the target"
        raise TrainingError(
            f"model.task is 'binary' but {target} has {classes} classes ({shown}); "
            f"set model.task=multiclass (or keep two classes in a transform)"
        )


def _num_outputs(model: MlpModel | CnnModel | TransformerModel, data: TrainingData) -> int:
    if model.task != "multiclass":
        return 1
    seen = data.num_classes()
    if model.num_classes is not None and seen > model.num_classes:
        raise TrainingError(
            f"model.num_classes is {model.num_classes} but the data has {seen} classes; raise model.num_classes or remove it"
        )
    classes = model.num_classes or seen
    if classes < 2:
        raise TrainingError(f"a multiclass task needs at least 2 classes; the data has {classes}")
    return classes


def _check_fits(model: MlpModel | CnnModel | TransformerModel, data: TrainingData) -> None:
    if model.kind == "cnn" and len(data.input_shape) != 3:
        raise TrainingError(
            f"model.kind 'cnn' needs an image feature (channels, height, width); "
            f"this data has {len(data.feature_names)} tabular features (use model=mlp or model=transformer)"
        )
    if isinstance(model, TransformerModel) and model.seq_len is not None:
        features = math.prod(data.input_shape)
        if features % model.seq_len:
            raise TrainingError(f"model.seq_len ({model.seq_len}) must divide the number of input values ({features})")
    if model.task != "regression" and data.splits["train"][1].dtype.kind == "f":
        raise TrainingError(
            f"model.task is {model.task!r} but the target holds real numbers; use task 'regression' or a class column"
        )


def build_network(architecture: dict[str, Any]) -> nn.Module:
    """The torch module an architecture describes, freshly initialised."""
    kind = architecture.get("kind")
    if kind == "mlp":
        return MlpNetwork(architecture)
    if kind == "cnn":
        return CnnNetwork(architecture)
    if kind == "transformer":
        return TransformerNetwork(architecture)
    raise TrainingError(f"unknown architecture kind {kind!r}; known: 'cnn', 'mlp', 'transformer'")


class MlpNetwork(nn.Module):
    """Embeddings for categorical codes, then Linear -> [BatchNorm] -> activation -> dropout blocks."""

    numeric_index: torch.Tensor

    def __init__(self, architecture: dict[str, Any]) -> None:
        super().__init__()
        num_inputs = math.prod(architecture["input_shape"])
        # Each categorical feature arrives one-hot encoded in a block of columns (its vocabulary plus
        # the unknown bucket); block @ embedding.weight is exactly an embedding lookup of its code.
        blocks = [(int(start), int(width)) for start, width in architecture.get("categorical", [])]
        one_hot_columns = {column for start, width in blocks for column in range(start, start + width)}
        numeric = [column for column in range(num_inputs) if column not in one_hot_columns]
        embedding_dim = int(architecture["embedding_dim"])
        # Column indices are derived from the architecture, so they stay out of the weights file.
        self.register_buffer("numeric_index", torch.tensor(numeric, dtype=torch.long), persistent=False)
        self.blocks = blocks
        self.embeddings = nn.ModuleList(nn.Embedding(width, embedding_dim) for _, width in blocks)
        width = len(numeric) + embedding_dim * len(blocks)
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for size in architecture["hidden"]:
            self.layers.append(nn.Linear(width, size))
            self.norms.append(nn.BatchNorm1d(size) if architecture["batch_norm"] else nn.Identity())
            width = size
        self.activation = ACTIVATIONS[architecture["activation"]]()
        self.dropout = nn.Dropout(float(architecture["dropout"]))
        self.output = nn.Linear(width, int(architecture["num_outputs"]))

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Numeric columns as they are, each one-hot block replaced by its embedding."""
        flat = inputs.flatten(1)
        if not self.embeddings:
            return flat
        parts = [flat.index_select(1, self.numeric_index)]
        for (start, width), embedding in zip(self.blocks, self.embeddings, strict=True):
            assert isinstance(embedding, nn.Embedding)
            parts.append(flat[:, start : start + width] @ embedding.weight.to(flat.dtype))
        return torch.cat(parts, dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.encode(inputs)
        for layer, norm in zip(self.layers, self.norms, strict=True):
            hidden = self.dropout(self.activation(norm(layer(hidden))))
        output: torch.Tensor = self.output(hidden)
        return output


class CnnNetwork(nn.Module):
    """Conv -> activation -> 2x2 max-pool blocks (pooling while the image is at least 2x2), then a dense head."""

    def __init__(self, architecture: dict[str, Any]) -> None:
        super().__init__()
        channels, height, width = (int(size) for size in architecture["input_shape"])
        kernel = int(architecture["kernel_size"])
        blocks: list[nn.Module] = []
        for out_channels in architecture["channels"]:
            blocks += [
                nn.Conv2d(channels, out_channels, kernel, padding=kernel // 2),
                ACTIVATIONS[architecture["activation"]](),
            ]
            if height >= 2 and width >= 2:
                blocks.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.hidden = nn.Linear(channels * height * width, int(architecture["hidden"]))
        self.activation = ACTIVATIONS[architecture["activation"]]()
        self.dropout = nn.Dropout(float(architecture["dropout"]))
        self.output = nn.Linear(int(architecture["hidden"]), int(architecture["num_outputs"]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.features(inputs).flatten(1)
        hidden = self.dropout(self.activation(self.hidden(hidden)))
        output: torch.Tensor = self.output(hidden)
        return output


class TransformerNetwork(nn.Module):
    """A pre-norm transformer encoder over feature tokens (one per feature, or `seq_len` slices) with a CLS token."""

    def __init__(self, architecture: dict[str, Any]) -> None:
        super().__init__()
        features = math.prod(architecture["input_shape"])
        d_model = int(architecture["d_model"])
        seq_len = architecture.get("seq_len")
        self.seq_len = int(seq_len) if seq_len else features
        self.token_width = features // self.seq_len
        self.per_feature = not seq_len
        if self.per_feature:
            # FT-Transformer style: each feature has its own embedding vector and bias (which also marks position).
            self.feature_weight = nn.Parameter(torch.empty(self.seq_len, d_model))
            self.feature_bias = nn.Parameter(torch.zeros(self.seq_len, d_model))
            nn.init.normal_(self.feature_weight, std=d_model**-0.5)
        else:
            self.token_projection = nn.Linear(self.token_width, d_model)
            self.position = nn.Parameter(torch.zeros(1, self.seq_len, d_model))
            nn.init.normal_(self.position, std=0.02)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        nn.init.normal_(self.cls_token, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model,
            int(architecture["n_heads"]),
            int(architecture["ff_dim"]),
            float(architecture["dropout"]),
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, int(architecture["n_layers"]), enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, int(architecture["num_outputs"]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.per_feature:
            hidden = inputs.reshape(inputs.shape[0], self.seq_len, 1) * self.feature_weight + self.feature_bias
        else:
            tokens = inputs.reshape(inputs.shape[0], self.seq_len, self.token_width)
            hidden = self.token_projection(tokens) + self.position
        hidden = torch.cat([self.cls_token.expand(inputs.shape[0], -1, -1), hidden], dim=1)
        hidden = self.encoder(hidden)
        output: torch.Tensor = self.output(self.norm(hidden[:, 0]))
        return output


def outputs_to_predictions(outputs: torch.Tensor, architecture: dict[str, Any]) -> torch.Tensor:
    """Raw network outputs -> probabilities (binary: P(class 1); multiclass: per class) or values (regression)."""
    task = architecture["task"]
    if task == "binary":
        return torch.sigmoid(outputs.float().squeeze(-1))
    if task == "multiclass":
        return torch.softmax(outputs.float(), dim=-1)
    return outputs.float().squeeze(-1) * float(architecture["target_std"]) + float(architecture["target_mean"])


def parameter_count(network: nn.Module) -> int:
    return sum(parameter.numel() for parameter in network.parameters())
