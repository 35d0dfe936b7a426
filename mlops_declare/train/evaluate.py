"""Evaluation of a finished network in one process: torchmetrics on a split, and CPU inference latency."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from mlops_declare.train.module import build_metrics, task_loss
from mlops_declare.train.networks import outputs_to_predictions

EVAL_BATCH = 1024


@torch.no_grad()
def evaluate_split(
    network: nn.Module,
    architecture: dict[str, Any],
    features: np.ndarray,
    targets: np.ndarray,
    metric_names: list[str],
    device: str = "cpu",
) -> dict[str, float]:
    """Every selected metric (and the loss) of `network` on one split, in float32 (on the training device).

    Run after training in a single process, so DDP's padded samplers never skew the numbers.
    """
    network = network.float().eval().to(device)
    metrics = build_metrics(architecture["task"], int(architecture["num_outputs"]), metric_names, sync=False).to(device)
    loss_sum, rows = 0.0, 0
    for start in range(0, len(features), EVAL_BATCH):
        inputs = torch.from_numpy(np.ascontiguousarray(features[start : start + EVAL_BATCH])).to(device)
        labels = torch.from_numpy(np.ascontiguousarray(targets[start : start + EVAL_BATCH])).to(device)
        outputs = network(inputs)
        loss_sum += float(task_loss(outputs, labels, architecture)) * len(inputs)
        rows += len(inputs)
        metrics.update(outputs_to_predictions(outputs, architecture), labels)
    results = {name: float(value) for name, value in metrics.compute().items()}
    if "loss" in metric_names:
        results["loss"] = loss_sum / max(rows, 1)
    return {name: results[name] for name in metric_names if name in results}


@torch.no_grad()
def cpu_latency_ms(network: nn.Module, example: np.ndarray, batch_size: int = 1024, repeats: int = 20) -> float:
    """Median milliseconds for one forward pass over `batch_size` rows on the CPU (eval mode, float32)."""
    network = network.float().eval().cpu()
    rows = np.resize(example, (batch_size, *example.shape[1:])).astype(np.float32)
    inputs = torch.from_numpy(rows)
    for _ in range(3):
        network(inputs)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        network(inputs)
        timings.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(timings))
