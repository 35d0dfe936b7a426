"""Arrays the trainer consumes: the prepared dataset's splits run through its fitted preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_declare.config.data import SPLIT_NAMES
from mlops_declare.errors import TrainingError


@dataclass(frozen=True)
class CategoricalInput:
    """A categorical feature, one-hot encoded in `cardinality` columns from `index`; an MLP embeds it."""

    index: int
    """First column of the block in the feature matrix."""
    cardinality: int
    """Columns in the block: the vocabulary plus the unknown bucket."""
    name: str = ""
    """Feature name, for messages and the model spec."""


@dataclass(frozen=True)
class TrainingData:
    """Features and targets per split, plus what the model package must know about the inputs."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    """'train' | 'val' | 'test' -> (features float32, targets int64 class indices or float32 values)."""
    feature_names: list[str]
    input_shape: tuple[int, ...]
    """Shape of one example: (features,) for tables, (channels, height, width) for images."""
    class_names: list[str] | None = None
    target: str | None = None
    categorical: list[CategoricalInput] = field(default_factory=list)
    preprocessing_path: Path | None = None
    """The fitted preprocessing artefact, copied into the model package."""
    dataset_fingerprint: str | None = None
    dataset_dir: Path | None = None
    source_features: list[str] | None = None
    """The raw columns a request must carry (before preprocessing), when a preprocessing artefact exists."""

    def __post_init__(self) -> None:
        missing = [name for name in SPLIT_NAMES if name not in self.splits]
        if missing:
            raise TrainingError(f"the dataset has no {', '.join(missing)} split; training needs train, val and test")
        for name, (features, targets) in self.splits.items():
            if len(features) != len(targets):
                raise TrainingError(f"split {name!r}: {len(features)} feature rows but {len(targets)} targets")
            if tuple(features.shape[1:]) != tuple(self.input_shape):
                raise TrainingError(
                    f"split {name!r}: examples have shape {tuple(features.shape[1:])}, expected {tuple(self.input_shape)}"
                )
        if len(self.splits["train"][0]) == 0:
            raise TrainingError("the train split is empty")

    def num_classes(self) -> int:
        """Classes seen in the data (class names when the preprocessing recorded them)."""
        if self.class_names:
            return len(self.class_names)
        labels = np.concatenate([targets for _, targets in self.splits.values()])
        return int(labels.max()) + 1 if labels.size else 0

    def input_schema(self) -> dict[str, Any]:
        """The JSON input schema recorded in the model package."""
        return {
            "kind": "image" if len(self.input_shape) == 3 else "tabular",
            "shape": list(self.input_shape),
            "dtype": "float32",
            "feature_names": list(self.feature_names),
            "categorical": [
                {"index": item.index, "cardinality": item.cardinality, "name": item.name} for item in self.categorical
            ],
            "target": self.target,
            "source_features": list(self.source_features) if self.source_features is not None else None,
        }


def training_data_from_arrays(
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    feature_names: list[str] | None = None,
    class_names: list[str] | None = None,
    target: str | None = None,
    categorical: list[CategoricalInput] | None = None,
) -> TrainingData:
    """TrainingData from in-memory arrays (benchmarks and library users without a prepared dataset)."""
    converted = {
        name: (np.ascontiguousarray(features, dtype=np.float32), _targets(targets))
        for name, (features, targets) in splits.items()
    }
    shape = tuple(converted["train"][0].shape[1:])
    names = feature_names or [f"x{index}" for index in range(int(np.prod(shape)))]
    return TrainingData(
        splits=converted,
        feature_names=list(names),
        input_shape=shape,
        class_names=class_names,
        target=target,
        categorical=list(categorical or []),
    )


def training_data_from_prepared(directory: Path) -> TrainingData:
    """Load a prepared dataset (issue 3's output) and transform each split with its fitted preprocessing."""
    import pyarrow.parquet as pq

    from mlops_declare.data import PreparedDataset, Preprocessor

    prepared = PreparedDataset.load(Path(directory))
    preprocessor = Preprocessor.load(Path(prepared.preprocessing_path))
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in SPLIT_NAMES:
        path = prepared.splits.get(name)
        if path is None:
            raise TrainingError(f"prepared dataset {prepared.directory}: no {name!r} split")
        table = pq.read_table(path)
        features = np.ascontiguousarray(preprocessor.transform_table(table), dtype=np.float32)
        splits[name] = (features, _targets(preprocessor.target_array(table)))
    class_names = getattr(preprocessor, "class_names", None)
    return TrainingData(
        splits=splits,
        feature_names=_model_columns(preprocessor),
        input_shape=tuple(int(size) for size in preprocessor.input_shape),
        class_names=[str(name) for name in class_names] if class_names else None,
        target=prepared.target,
        categorical=_categorical_inputs(preprocessor),
        preprocessing_path=Path(prepared.preprocessing_path),
        dataset_fingerprint=prepared.fingerprint,
        dataset_dir=Path(prepared.directory),
        source_features=list(preprocessor.feature_names),
    )


def _categorical_inputs(preprocessor: Any) -> list[CategoricalInput]:
    """The one-hot blocks of categorical features, from the fitted preprocessing state."""
    blocks, column = [], 0
    for feature in preprocessor.state.get("features", []):
        if feature["type"] == "categorical":
            width = len(feature["vocabulary"]) + 1
            blocks.append(CategoricalInput(index=column, cardinality=width, name=str(feature["name"])))
            column += width
        elif feature["type"] != "image":
            column += 1
    return blocks


def _model_columns(preprocessor: Any) -> list[str]:
    """Names of the model's input columns: one per numeric feature and per one-hot category."""
    names = getattr(preprocessor, "encoded_names", None)
    return list(names) if names else list(preprocessor.feature_names)


def _targets(targets: np.ndarray) -> np.ndarray:
    array = np.asarray(targets)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.int64)
    return array.astype(np.float32)
