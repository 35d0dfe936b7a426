"""Training overhead: the framework vs a hand-written Lightning script vs a raw PyTorch loop.

All three train the example (breast-cancer MLP, data from the real pipeline) with the same network,
optimiser, batch size and epochs, validate every epoch with the same torchmetrics, keep the best
checkpoint, and score the test split; the framework also writes its model package. Goal:
framework / hand-written Lightning <= 1.00 (median of >= 5 interleaved rounds, same accuracy).

`--large` measures the larger case: the tabular transformer on 100k generated rows, framework vs
the same network in a hand-written Lightning script (goal: overhead < 3%).

    .venv/bin/python benchmarks/training_overhead.py            # real size (30 epochs, 5 repeats)
    .venv/bin/python benchmarks/training_overhead.py --large    # transformer, 100k rows
    .venv/bin/python benchmarks/training_overhead.py --smoke    # CI size
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.00
LARGE_GOAL = 1.03


def example(epochs: int, directory: Path) -> tuple[Any, Any]:
    """The example's config (early stopping off so every variant runs the same epochs) and its prepared data."""
    from mlops_declare.config import load_config
    from mlops_declare.data import prepare_dataset
    from mlops_declare.train.data import training_data_from_prepared

    loaded = load_config(
        REPO / "conf",
        [
            "experiment=breast_cancer_mlp",
            f"trainer.max_epochs={epochs}",
            "trainer.early_stopping=null",
            "trainer.progress_bar=false",
        ],
    )
    prepared = prepare_dataset(loaded.config.data, directory / "data", project_root=REPO)
    return loaded, training_data_from_prepared(prepared.directory)


def large_example(rows: int, epochs: int, directory: Path) -> tuple[Any, Any]:
    """The tabular transformer on `rows` generated rows (12 numeric features, binary label)."""
    from mlops_declare.config import load_config
    from mlops_declare.data import prepare_dataset
    from mlops_declare.train.data import training_data_from_prepared

    columns = ",".join(f"{{name:x{index}}}" for index in range(12))
    loaded = load_config(
        REPO / "conf",
        [
            "experiment=tabular_transformer",
            "data=generated",
            f"data.source.rows={rows}",
            f"data.source.columns=[{columns}]",
            "data.expectations=[]",
            "data.batch_size=256",
            f"trainer.max_epochs={epochs}",
            "trainer.early_stopping=null",
            "trainer.progress_bar=false",
        ],
    )
    prepared = prepare_dataset(loaded.config.data, directory / "data", project_root=REPO)
    return loaded, training_data_from_prepared(prepared.directory)


def run_lightning_same_network(loaded: Any, data: Any, directory: Path) -> float:
    """A hand-written Lightning script around the framework's own network (so only the training
    machinery differs): BCE loss, AdamW, the same torchmetrics, best checkpoint by val loss."""
    import lightning as L
    import torchmetrics
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from mlops_declare.train.networks import architecture_for, build_network

    config = loaded.config

    class Net(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = build_network(architecture_for(config.model, data))
            self.val_metrics = torchmetrics.MetricCollection(
                {
                    "accuracy": torchmetrics.classification.BinaryAccuracy(),
                    "auroc": torchmetrics.classification.BinaryAUROC(),
                },
                prefix="val/",
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x).squeeze(-1)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.binary_cross_entropy_with_logits(self(x), y.float())
            self.log("train/loss", loss, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            logits = self(x)
            self.log("val/loss", nn.functional.binary_cross_entropy_with_logits(logits, y.float()))
            self.val_metrics.update(torch.sigmoid(logits), y)
            self.log_dict(self.val_metrics)

        def configure_optimizers(self) -> Any:
            settings = config.trainer.optimizer
            return torch.optim.AdamW(self.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)

    def loader(split: str, shuffle: bool) -> DataLoader[Any]:
        x, y = data.splits[split]
        return DataLoader(
            TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
            batch_size=config.data.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,
        )

    L.seed_everything(config.trainer.seed, verbose=False)
    model = Net()
    checkpoint = ModelCheckpoint(dirpath=directory / "checkpoints", monitor="val/loss", save_top_k=1)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=config.trainer.max_epochs,
        logger=CSVLogger(directory),
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
    )
    trainer.fit(model, loader("train", True), loader("val", False))
    model.load_state_dict(torch.load(checkpoint.best_model_path, weights_only=True)["state_dict"])
    model.eval()
    x, y = data.splits["test"]
    with torch.no_grad():
        predictions = (torch.sigmoid(model(torch.from_numpy(x))) >= 0.5).long().numpy()
    return float((predictions == y).mean())


def run_framework(loaded: Any, data: Any, directory: Path) -> float:
    from mlops_declare.train.fit import train_model

    result = train_model(loaded, data, directory)
    return float(result.metrics["test"]["accuracy"])


def run_lightning(loaded: Any, data: Any, directory: Path) -> float:
    """What a user would write by hand for the same job with Lightning."""
    import lightning as L
    import torchmetrics
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    config = loaded.config
    hidden = config.model.hidden

    class Net(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            width = data.input_shape[0]
            for size in hidden:
                layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.model.dropout)]
                width = size
            self.net = nn.Sequential(*layers, nn.Linear(width, 1))
            self.val_metrics = torchmetrics.MetricCollection(
                {
                    "accuracy": torchmetrics.classification.BinaryAccuracy(),
                    "f1": torchmetrics.classification.BinaryF1Score(),
                    "auroc": torchmetrics.classification.BinaryAUROC(),
                    "precision": torchmetrics.classification.BinaryPrecision(),
                    "recall": torchmetrics.classification.BinaryRecall(),
                },
                prefix="val/",
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x).squeeze(-1)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.binary_cross_entropy_with_logits(self(x), y.float())
            self.log("train/loss", loss, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            logits = self(x)
            self.log("val/loss", nn.functional.binary_cross_entropy_with_logits(logits, y.float()))
            self.val_metrics.update(torch.sigmoid(logits), y)
            self.log_dict(self.val_metrics)

        def configure_optimizers(self) -> Any:
            settings = config.trainer.optimizer
            return torch.optim.AdamW(self.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)

    def loader(split: str, shuffle: bool) -> DataLoader[Any]:
        x, y = data.splits[split]
        return DataLoader(
            TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
            batch_size=config.data.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,
        )

    L.seed_everything(config.trainer.seed, verbose=False)
    model = Net()
    checkpoint = ModelCheckpoint(dirpath=directory / "checkpoints", monitor="val/loss", save_top_k=1)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=config.trainer.max_epochs,
        logger=CSVLogger(directory),
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=min(50, len(data.splits["train"][0]) // config.data.batch_size),
    )
    trainer.fit(model, loader("train", True), loader("val", False))
    state = torch.load(checkpoint.best_model_path, weights_only=True)["state_dict"]
    model.load_state_dict(state)
    model.eval()
    x, y = data.splits["test"]
    with torch.no_grad():
        predictions = (torch.sigmoid(model(torch.from_numpy(x))) >= 0.5).long().numpy()
    return float((predictions == y).mean())


def run_raw(loaded: Any, data: Any, directory: Path) -> float:
    """A plain PyTorch loop: train, validate loss and accuracy each epoch, keep the best weights."""
    from torch import nn

    config = loaded.config
    torch.manual_seed(config.trainer.seed)
    layers: list[nn.Module] = []
    width = data.input_shape[0]
    for size in config.model.hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.model.dropout)]
        width = size
    model = nn.Sequential(*layers, nn.Linear(width, 1))
    settings = config.trainer.optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    x_train, y_train = (torch.from_numpy(array) for array in data.splits["train"])
    x_val, y_val = (torch.from_numpy(array) for array in data.splits["val"])
    batch, best, best_state = config.data.batch_size, float("inf"), None
    for _ in range(config.trainer.max_epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(order) - batch + 1, batch):
            index = order[start : start + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(
                model(x_train[index]).squeeze(-1), y_train[index].float()
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(nn.functional.binary_cross_entropy_with_logits(model(x_val).squeeze(-1), y_val.float()))
        if val_loss < best:
            best, best_state = val_loss, {key: value.clone() for key, value in model.state_dict().items()}
    assert best_state is not None
    model.load_state_dict(best_state)
    x, y = data.splits["test"]
    with torch.no_grad():
        predictions = (torch.sigmoid(model(torch.from_numpy(x)).squeeze(-1)) >= 0.5).long().numpy()
    return float((predictions == y).mean())


def timed(variants: dict[str, Any], loaded: Any, data: Any, root: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """Median seconds per variant over `repeats` rounds, and the last test accuracy.

    Rounds interleave the variants, so load from other processes on a shared machine hits all alike.
    """
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    accuracy: dict[str, float] = {}
    for repeat in range(repeats):
        for name, function in variants.items():
            started = time.perf_counter()
            accuracy[name] = function(loaded, data, root / f"{name}_{repeat}")
            seconds[name].append(time.perf_counter() - started)
    return {name: (statistics.median(seconds[name]), accuracy[name]) for name in variants}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI: 2 epochs, 1 repeat")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 keeps timings steady on shared machines)"
    )
    parser.add_argument("--large", action="store_true", help="the tabular transformer on --rows generated rows")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the --large case (default 100,000)")
    args = parser.parse_args(argv)
    epochs, repeats = (2, 1) if args.smoke else (args.epochs, args.repeats)
    if args.large:
        return main_large(args, 1 if args.smoke else min(args.epochs, 2), repeats)
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        loaded, data = example(epochs, root)
        # One untimed run of each warms imports and allocator caches.
        for function in (run_framework, run_lightning, run_raw):
            function(loaded, data, root / f"warm_{function.__name__}")
        variants = {"framework": run_framework, "lightning": run_lightning, "raw": run_raw}
        results = timed(variants, loaded, data, root, repeats)
    print(
        f"training overhead: breast_cancer_mlp, {epochs} epochs, batch {loaded.config.data.batch_size}, "
        f"{len(data.splits['train'][0])} train rows, median of {repeats}, {args.threads} thread(s)"
    )
    print(f"  {'variant':<22} {'seconds':>8} {'test acc':>9}")
    for name, (seconds, accuracy) in results.items():
        print(f"  {name:<22} {seconds:>8.3f} {accuracy:>9.4f}")
    framework, lightning, raw = (results[name][0] for name in ("framework", "lightning", "raw"))
    ratio = framework / lightning
    print(
        f"  framework / hand-written Lightning = {ratio:.3f}  (goal <= {GOAL:.2f}: {'met' if ratio <= GOAL else 'NOT met'})"
    )
    print(f"  framework / raw PyTorch loop       = {framework / raw:.3f}")
    print(f"  hand-written Lightning / raw loop  = {lightning / raw:.3f}")
    return 0


def main_large(args: argparse.Namespace, epochs: int, repeats: int) -> int:
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    rows = 2_000 if args.smoke else args.rows
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        loaded, data = large_example(rows, epochs, root)
        variants = {"framework": run_framework, "lightning": run_lightning_same_network}
        for name, function in variants.items():  # one untimed run each warms imports and caches
            function(loaded, data, root / f"warm_{name}")
        results = timed(variants, loaded, data, root, repeats)
    print(
        f"training overhead, large case: tabular transformer, {rows:,} generated rows, {epochs} epoch(s), "
        f"batch {loaded.config.data.batch_size}, median of {repeats}, {args.threads} thread(s)"
    )
    print(f"  {'variant':<22} {'seconds':>8} {'test acc':>9}")
    for name, (seconds, accuracy) in results.items():
        print(f"  {name:<22} {seconds:>8.3f} {accuracy:>9.4f}")
    ratio = results["framework"][0] / results["lightning"][0]
    print(
        f"  framework / hand-written Lightning = {ratio:.3f}  (overhead {100 * (ratio - 1):+.1f}%; goal < +3%: "
        f"{'met' if ratio < LARGE_GOAL else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
