"""Training: Lightning runs from config, precision policy, pruning schedules and safe model packages.

Heavy imports (torch, lightning) live in the submodules; import them where they are used.
"""

from __future__ import annotations

__all__ = [
    "TrainingData",
    "TrainingResult",
    "load_package",
    "train_model",
    "training_data_from_arrays",
    "training_data_from_prepared",
]


def __getattr__(name: str) -> object:
    # Lazy so `import mlops_declare.train` stays cheap for the CLI's --help.
    if name in ("TrainingData", "training_data_from_arrays", "training_data_from_prepared"):
        from mlops_declare.train import data

        return getattr(data, name)
    if name in ("TrainingResult", "train_model"):
        from mlops_declare.train import fit

        return getattr(fit, name)
    if name == "load_package":
        from mlops_declare.train.package import load_package

        return load_package
    raise AttributeError(f"module 'mlops_declare.train' has no attribute {name!r}")
