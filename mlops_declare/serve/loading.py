"""Version loading: a digest-verified model package, its preprocessing loaded once, warmed, ready to answer.

`load_version` is what the registry follower and the bundled package of a bento both go through;
`ServedVersion` is what the request path answers with.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_declare.contracts.layouts import PACKAGE_METRICS_FILE
from mlops_declare.contracts.service import BUNDLED_PACKAGE, FeatureSpec
from mlops_declare.errors import MlopsDeclareError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BUNDLED_PACKAGE",
    "ServedVersion",
    "ServingError",
    "features_of_package",
    "load_version",
    "settle_memory",
    "warmup_record",
]


class ServingError(MlopsDeclareError):
    """The service cannot load, verify or answer with a model version."""


@dataclass
class ServedVersion:
    """A verified, warmed package and what is needed to answer with it."""

    name: str
    version: int
    package: Any
    preprocessor: Any
    class_names: list[str] | None
    task: str
    metrics: dict[str, Any]
    features: list[FeatureSpec]
    pass_seconds: float = 0.0
    """How long one warm single-record pass took (preprocessing + forward): the batcher's first estimate."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def transform(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Raw records -> the network's float32 input: the packaged preprocessing, loaded once."""
        result: np.ndarray = self.preprocessor.transform_records(records)
        return result

    def forward(self, features: np.ndarray) -> np.ndarray:
        """Probabilities or values for preprocessed rows (`ModelPackage.predict`)."""
        result: np.ndarray = self.package.predict(features)
        return result

    def answers(self, outputs: np.ndarray) -> list[dict[str, Any]]:
        """Per-row prediction dicts (class name, its probability, all probabilities; or the value)."""
        rows: list[dict[str, Any]] = []
        if self.task == "regression":
            return [
                {"prediction": value, "probability": None, "probabilities": None}
                for value in outputs.reshape(-1).tolist()
            ]
        names = self.class_names or []
        binary = self.task == "binary"
        for value in (outputs.reshape(-1) if binary else outputs).tolist():  # Python floats for the whole batch at once
            probabilities = [1.0 - value, value] if binary else value
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            label = names[best] if best < len(names) else str(best)
            rows.append(
                {
                    "prediction": label,
                    "probability": probabilities[best],
                    "probabilities": dict(
                        zip(names or [str(i) for i in range(len(probabilities))], probabilities, strict=False)
                    ),
                }
            )
        return rows


def features_of_package(preprocessor: Any, class_names: Sequence[str] | None) -> list[FeatureSpec]:
    """The typed request fields a package expects (for inferred features the compiler could not know)."""
    features = []
    for fitted in preprocessor.state["features"]:
        kind = fitted["type"]
        features.append(
            FeatureSpec(
                name=fitted["name"],
                type=kind,
                shape=tuple(fitted["shape"]) if kind == "image" else None,
                categories=None,
                optional=kind != "image",
            )
        )
    return features


def load_version(directory: Path, name: str, version: int) -> ServedVersion:
    """Load a package (every file's sha256 checked), cache its preprocessing, warm it with one prediction."""
    from mlops_declare.train.package import load_package

    try:
        package = load_package(directory)
        preprocessor = package.preprocessor()
    except MlopsDeclareError as exc:
        raise ServingError(f"{name}:{version} failed verification: {exc}") from None
    class_names = package.spec.get("class_names")
    metrics_path = directory / PACKAGE_METRICS_FILE
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    served = ServedVersion(
        name=name,
        version=version,
        package=package,
        preprocessor=preprocessor,
        class_names=list(class_names) if class_names else None,
        task=str(package.spec.get("task") or package.architecture["task"]),
        metrics=metrics,
        features=features_of_package(preprocessor, class_names),
    )
    record = warmup_record(served.features)
    served.answers(served.forward(served.transform([record])))
    started = time.perf_counter()  # the first pass pays one-off allocations; the second is typical
    served.answers(served.forward(served.transform([record])))
    served.pass_seconds = time.perf_counter() - started
    return served


def warmup_record(features: Sequence[FeatureSpec]) -> dict[str, Any]:
    """A record every package accepts: missing values for imputed features, zeros for an image."""
    record: dict[str, Any] = {}
    for feature in features:
        if feature.type == "image":
            record[feature.name] = [0.0] * math.prod(feature.shape or (1,))
        else:
            record[feature.name] = None
    return record


def settle_memory() -> None:
    """Collect what the previous version left, then put everything alive into the GC's permanent generation.

    A replica holds millions of long-lived objects (torch, BentoML, pydantic, the model); every full
    collection walked them all, and those pauses were the tail: 150-240 ms gen-2 collections while
    serving the example MLP at 32-64 concurrent requests, p99 ~240-290 ms. Frozen, they are skipped:
    pauses of 8-40 ms, p99 68-109 ms in the same run. Done after every load, so a swap's old version
    is collected (one full pass, on the model-follower thread) before the new survivors are frozen.
    """
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()
