"""The LightningModule and DataModule built from config: task loss, torchmetrics, optimiser, schedule, NaN guard."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlops_declare.config.trainer import TrainerConfig
from mlops_declare.errors import TrainingError
from mlops_declare.train.data import TrainingData
from mlops_declare.train.networks import outputs_to_predictions
from mlops_declare.train.precision import non_finite_hint

NON_FINITE_CHECK_EVERY = 20
"""Batches between reads of the on-device NaN flag; reading it every batch would stall a GPU."""


def build_metrics(task: str, num_outputs: int, names: list[str], sync: bool = True) -> Any:
    """A torchmetrics MetricCollection of `names` (loss excluded) for the task.

    `sync=False` for evaluation in one process after DDP training, where the other ranks have
    already left and a cross-process reduction would wait for them forever.
    """
    import torchmetrics as tm
    from torchmetrics import classification as tc
    from torchmetrics import regression as tr

    options = {"sync_on_compute": sync}

    def make(name: str) -> Any:
        if task == "binary":
            return {
                "accuracy": tc.BinaryAccuracy,
                "f1": tc.BinaryF1Score,
                "auroc": tc.BinaryAUROC,
                "precision": tc.BinaryPrecision,
                "recall": tc.BinaryRecall,
            }[name](**options)
        if task == "multiclass":
            # Accuracy is the share of correct rows (micro); F1/precision/recall weigh classes equally (macro).
            average = "micro" if name == "accuracy" else "macro"
            factory = {
                "accuracy": tc.MulticlassAccuracy,
                "f1": tc.MulticlassF1Score,
                "auroc": tc.MulticlassAUROC,
                "precision": tc.MulticlassPrecision,
                "recall": tc.MulticlassRecall,
            }[name]
            return factory(num_classes=num_outputs, average=average, **options)
        return {"mse": tr.MeanSquaredError, "mae": tr.MeanAbsoluteError, "r2": tr.R2Score}[name](**options)

    return tm.MetricCollection({name: make(name) for name in names if name != "loss"})


def task_loss(outputs: torch.Tensor, targets: torch.Tensor, architecture: dict[str, Any]) -> torch.Tensor:
    """Binary cross-entropy, cross-entropy or MSE on standardised targets; always computed in float32."""
    outputs = outputs.float()
    task = architecture["task"]
    if task == "binary":
        return nn.functional.binary_cross_entropy_with_logits(outputs.squeeze(-1), targets.float())
    if task == "multiclass":
        return nn.functional.cross_entropy(outputs, targets.long())
    scaled = (targets.float() - float(architecture["target_mean"])) / float(architecture["target_std"])
    return nn.functional.mse_loss(outputs.squeeze(-1), scaled)


class TaskModule(L.LightningModule):
    """Trains a network for its task and logs torchmetrics on the validation split."""

    first_non_finite: torch.Tensor

    def __init__(
        self,
        network: nn.Module,
        architecture: dict[str, Any],
        trainer: TrainerConfig,
        metric_names: list[str],
        precision: str,
    ) -> None:
        super().__init__()
        self.network = network
        self.architecture = architecture
        self.trainer_config = trainer
        self.precision_used = precision
        self.val_metrics = build_metrics(architecture["task"], int(architecture["num_outputs"]), metric_names).clone(
            prefix="val/"
        )
        self.track_loss = "loss" in metric_names
        self.validation_history: dict[int, dict[str, float]] = {}
        """Epoch -> the val scores logged at its end (every computed metric, `loss` included)."""
        import torchmetrics

        self.val_loss = torchmetrics.MeanMetric()
        # First non-finite loss as (optimizer step, epoch, batch); -1 while every loss was finite.
        self.register_buffer("first_non_finite", torch.full((3,), -1, dtype=torch.long), persistent=False)

    def on_fit_start(self) -> None:
        if self.trainer_config.compile:
            # Only the network is compiled: logging and metrics in the steps are not dynamo-friendly.
            # Kept off the module's attributes so the state dict and pickling (ddp_spawn) stay plain.
            object.__setattr__(self, "_compiled_network", torch.compile(self.network))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        compiled = self.__dict__.get("_compiled_network") if self.training else None
        output: torch.Tensor = (self.network if compiled is None else compiled)(inputs)
        return output

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = task_loss(self(inputs), targets, self.architecture)
        self._remember_non_finite(loss, batch_idx)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(inputs))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        outputs = self(inputs)
        self.val_loss.update(task_loss(outputs, targets, self.architecture), weight=len(inputs))
        self.val_metrics.update(outputs_to_predictions(outputs, self.architecture), targets)
        self.log("val/loss", self.val_loss, on_epoch=True, prog_bar=True, batch_size=len(inputs))
        self.log_dict(self.val_metrics, on_epoch=True, batch_size=len(inputs))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if (batch_idx + 1) % NON_FINITE_CHECK_EVERY == 0:
            self.raise_if_non_finite()

    def on_validation_end(self) -> None:
        # The epoch's validation scores, so the final val scores of a checkpoint need no second pass.
        if self.trainer.sanity_checking:
            return
        self.validation_history[self.current_epoch] = {
            key.removeprefix("val/"): float(value)
            for key, value in self.trainer.callback_metrics.items()
            if key.startswith("val/")
        }

    def on_train_epoch_end(self) -> None:
        self.raise_if_non_finite()

    def _remember_non_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        # Kept on the device so a GPU never waits for the check; read back every few batches.
        position = torch.tensor([self.global_step, self.current_epoch, batch_idx], device=loss.device)
        first_bad = (~torch.isfinite(loss.detach())) & (self.first_non_finite[0] < 0)
        self.first_non_finite.copy_(torch.where(first_bad, position, self.first_non_finite))

    def raise_if_non_finite(self) -> None:
        step, epoch, batch = (int(value) for value in self.first_non_finite.tolist())
        if step < 0:
            return
        raise TrainingError(
            f"training stopped: the loss became NaN or infinite at step {step} (epoch {epoch}, batch {batch}) "
            f"with precision {self.precision_used!r}; {non_finite_hint(self.precision_used)}"
        )

    def configure_optimizers(self) -> Any:
        # trainer.model is what the strategy wrapped (DDP, FSDP's flattened parameters), or this module.
        optimizer = build_optimizer(self.trainer_config, (self.trainer.model or self).parameters())
        scheduler = build_scheduler(self.trainer_config, optimizer, self.trainer)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def build_optimizer(trainer: TrainerConfig, parameters: Any) -> torch.optim.Optimizer:
    settings = trainer.optimizer
    if settings.name == "sgd":
        return torch.optim.SGD(
            parameters, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    factory = torch.optim.AdamW if settings.name == "adamw" else torch.optim.Adam
    return factory(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


def build_scheduler(
    trainer: TrainerConfig, optimizer: torch.optim.Optimizer, lightning_trainer: Any
) -> dict[str, Any] | None:
    """The configured schedule as a Lightning scheduler dict (epoch-wise, or step-wise for onecycle)."""
    from torch.optim import lr_scheduler as schedules

    settings = trainer.lr_scheduler
    if settings.name == "onecycle":
        total = max(1, int(lightning_trainer.estimated_stepping_batches))
        return {
            "scheduler": schedules.OneCycleLR(optimizer, max_lr=trainer.optimizer.lr, total_steps=total),
            "interval": "step",
        }
    warmup = settings.warmup_epochs
    main: Any = None
    if settings.name == "cosine":
        main = schedules.CosineAnnealingLR(optimizer, T_max=max(1, trainer.max_epochs - warmup))
    elif settings.name == "step":
        main = schedules.StepLR(optimizer, step_size=settings.step_size, gamma=settings.gamma)
    if warmup:
        ramp = schedules.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), total_iters=warmup)
        main = ramp if main is None else schedules.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
    return None if main is None else {"scheduler": main, "interval": "epoch"}


class BatchTensorDataset(TensorDataset):
    """A TensorDataset that hands the DataLoader a whole batch by slicing its tensors (`__getitems__`),
    instead of one row at a time collated back together: what a hand-written loop over in-memory
    tensors does. Samplers (shuffling, DDP's DistributedSampler) work as with any dataset."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long, device=self.tensors[0].device)
        return tuple(tensor.index_select(0, index) for tensor in self.tensors)


def _whole_batch(batch: Any) -> Any:
    """collate_fn for BatchTensorDataset: the batch is already stacked."""
    return batch


DEVICE_RESIDENT_BYTES = 2 * 1024**3
"""Tabular splits up to this size move to the GPU once, so batches are sliced where they are used."""


class ArrayDataModule(L.LightningDataModule):
    """Train/val/test DataLoaders over in-memory arrays, batched by slicing (on the GPU when training there)."""

    def __init__(self, data: TrainingData, batch_size: int) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def setup(self, stage: str) -> None:
        device = torch.device("cpu")
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size == 1 and trainer.strategy.root_device.type == "cuda":
            size = sum(features.nbytes + targets.nbytes for features, targets in self.data.splits.values())
            if size <= DEVICE_RESIDENT_BYTES:
                device = trainer.strategy.root_device
        for split, (features, targets) in self.data.splits.items():
            self._tensors[split] = (
                torch.from_numpy(np.ascontiguousarray(features)).to(device),
                torch.from_numpy(np.ascontiguousarray(targets)).to(device),
            )

    def _dataset(self, split: str) -> BatchTensorDataset:
        if split not in self._tensors:
            self.setup("fit")
        return BatchTensorDataset(*self._tensors[split])

    def _loader(self, split: str, shuffle: bool = False, drop_last: bool = False) -> DataLoader[Any]:
        return DataLoader(
            self._dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            collate_fn=_whole_batch,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        rows = len(self.data.splits["train"][0])
        # A last batch of one row breaks batch norm; dropping it costs at most one batch per epoch.
        return self._loader("train", shuffle=True, drop_last=rows > self.batch_size)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader("test")
