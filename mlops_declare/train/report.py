"""The pruning report: per-layer sparsity, parameters, package size, metrics and CPU latency before vs after."""

from __future__ import annotations

import statistics
from typing import Any

from torch import nn

from mlops_declare.config.pruning import GradualPruning
from mlops_declare.train.data import TrainingData
from mlops_declare.train.evaluate import cpu_latency_ms, evaluate_split
from mlops_declare.train.networks import parameter_count
from mlops_declare.train.package import weights_bytes

LATENCY_BATCH = 1024


def layer_sparsity(network: nn.Module) -> list[dict[str, Any]]:
    """Share of zero weights in every Linear/Conv weight matrix and attention projection."""
    rows = []
    for name, parameter in network.named_parameters():
        if parameter.dim() < 2 or not (name.endswith(".weight") or name.endswith("in_proj_weight")):
            continue
        if isinstance(_owner(network, name), nn.Embedding):
            continue
        zeros = int((parameter == 0).sum())
        rows.append(
            {"parameter": name, "shape": list(parameter.shape), "sparsity": round(zeros / parameter.numel(), 4)}
        )
    return rows


def _owner(network: nn.Module, parameter: str) -> nn.Module:
    module_name = parameter.rsplit(".", 1)[0] if "." in parameter else ""
    return network.get_submodule(module_name)


def model_figures(
    network: nn.Module, architecture: dict[str, Any], data: TrainingData, metric_names: list[str], latency_ms: float
) -> dict[str, Any]:
    """Size, validation metrics and CPU latency of one network."""
    features, targets = data.splits["val"]
    nonzero = sum(int((parameter != 0).sum()) for parameter in network.parameters())
    return {
        "parameters": parameter_count(network),
        "nonzero_parameters": nonzero,
        "package_bytes": len(weights_bytes(network)),
        "val": evaluate_split(network, architecture, features, targets, metric_names),
        "cpu_latency_ms": round(latency_ms, 4),
    }


def paired_latency_ms(first: nn.Module, second: nn.Module, example: Any, rounds: int = 5) -> tuple[float, float]:
    """Median CPU latency of two networks measured in alternating rounds, so machine load hits both alike."""
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        timings[0].append(cpu_latency_ms(first, example, LATENCY_BATCH, repeats=5))
        timings[1].append(cpu_latency_ms(second, example, LATENCY_BATCH, repeats=5))
    return statistics.median(timings[0]), statistics.median(timings[1])


def pruning_report(
    pruning: GradualPruning,
    steps: list[dict[str, Any]],
    dense: tuple[nn.Module, dict[str, Any]],
    pruned: tuple[nn.Module, dict[str, Any]],
    data: TrainingData,
    metric_names: list[str],
) -> dict[str, Any]:
    """Before (dense, right before the first pruning step) vs after (pruned, fine-tuned, made permanent)."""
    dense_ms, pruned_ms = paired_latency_ms(dense[0], pruned[0], data.splits["val"][0])
    before = model_figures(dense[0], dense[1], data, metric_names, dense_ms)
    after = model_figures(pruned[0], pruned[1], data, metric_names, pruned_ms)
    return {
        "method": pruning.method,
        "before_is": f"dense weights at the end of epoch {steps[0]['epoch']}, right before the first pruning step"
        if steps
        else "dense weights",
        "scope": pruning.scope,
        "schedule": pruning.schedule,
        "final_sparsity": pruning.final_sparsity,
        "steps": steps,
        "layers": layer_sparsity(pruned[0]),
        "hidden_before": dense[1].get("hidden") if pruning.method == "neurons" else None,
        "hidden_after": pruned[1].get("hidden") if pruning.method == "neurons" else None,
        "latency_batch": LATENCY_BATCH,
        "before": before,
        "after": after,
        "speedup": round(before["cpu_latency_ms"] / max(after["cpu_latency_ms"], 1e-9), 3),
        "size_ratio": round(after["package_bytes"] / before["package_bytes"], 4),
        "semi_structured": semi_structured_figures(pruned[0], data.splits["val"][0])
        if _method(pruning) == "semi_structured"
        else None,
    }


def _method(pruning: GradualPruning) -> str:
    method: str = pruning.method
    return method


def semi_structured_figures(network: nn.Module, example: Any) -> dict[str, Any]:
    """GPU latency of the 2:4 network in fp16, dense vs semi-structured kernels; where no suitable GPU
    exists, the figures are None and the note says why."""
    from mlops_declare.train.pruning import SEMI_STRUCTURED_NEEDS, semi_structured_available, semi_structured_inference

    if not semi_structured_available():
        return {
            "gpu_dense_ms": None,
            "gpu_sparse_ms": None,
            "gpu_speedup": None,
            "note": f"not measured: {SEMI_STRUCTURED_NEEDS}",
        }
    import copy

    import numpy as np
    import torch

    dense = copy.deepcopy(network).to(device="cuda", dtype=torch.float16).eval()
    sparse = semi_structured_inference(network)
    rows = np.resize(example, (LATENCY_BATCH, *example.shape[1:])).astype(np.float16)
    inputs = torch.from_numpy(rows).cuda()
    dense_ms, sparse_ms = _gpu_ms(dense, inputs), _gpu_ms(sparse, inputs)
    return {
        "gpu_dense_ms": round(dense_ms, 4),
        "gpu_sparse_ms": round(sparse_ms, 4),
        "gpu_speedup": round(dense_ms / max(sparse_ms, 1e-9), 3),
        "note": f"fp16, batch {LATENCY_BATCH}, {torch.cuda.get_device_name()}",
    }


def _gpu_ms(network: nn.Module, inputs: Any, repeats: int = 50) -> float:
    import torch

    with torch.no_grad():
        for _ in range(5):
            network(inputs)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        start.record()
        for _ in range(repeats):
            network(inputs)
        end.record()
        torch.cuda.synchronize()
    return float(start.elapsed_time(end)) / repeats


def render_pruning_report(report: dict[str, Any]) -> str:
    """The report as the text the CLI prints."""
    before, after = report["before"], report["after"]
    lines = [
        f"pruning: {report['method']} ({report['scope']}, {report['schedule']}) to {report['final_sparsity']:.0%}",
        f"  {'layer':<40} {'shape':<16} sparsity",
    ]
    lines += [
        f"  {row['parameter']:<40} {'x'.join(map(str, row['shape'])):<16} {row['sparsity']:.1%}"
        for row in report["layers"]
    ]
    if report.get("hidden_after") is not None:
        lines.append(f"  hidden units: {report['hidden_before']} -> {report['hidden_after']}")
    lines.append(f"  before = {report['before_is']}")
    lines.append(f"  {'':<24} {'before':>12} {'after':>12}")
    lines.append(f"  {'parameters':<24} {before['parameters']:>12,} {after['parameters']:>12,}")
    lines.append(f"  {'nonzero parameters':<24} {before['nonzero_parameters']:>12,} {after['nonzero_parameters']:>12,}")
    lines.append(f"  {'package weights (bytes)':<24} {before['package_bytes']:>12,} {after['package_bytes']:>12,}")
    for name in before["val"]:
        lines.append(
            f"  {'val ' + name:<24} {before['val'][name]:>12.4f} {after['val'].get(name, float('nan')):>12.4f}"
        )
    lines.append(
        f"  {'CPU ms/batch ' + str(report['latency_batch']):<24} {before['cpu_latency_ms']:>12.3f} {after['cpu_latency_ms']:>12.3f}"
        f"   ({report['speedup']:.2f}x)"
    )
    lines.append(
        f"  package weights: {1 / max(report['size_ratio'], 1e-9):.2f}x smaller, CPU {report['speedup']:.2f}x faster"
    )
    if report["method"] in ("l1_unstructured", "random_unstructured"):
        lines.append(
            "  (pruned weights are stored sparsely; the dense CPU kernels run no faster: speed changes with 'neurons')"
        )
    semi = report.get("semi_structured")
    if semi:
        if semi["gpu_speedup"] is None:
            lines.append(f"  semi-structured 2:4 GPU speed-up {semi['note']}")
        else:
            lines.append(
                f"  semi-structured 2:4 on GPU: {semi['gpu_dense_ms']:.3f} ms dense -> {semi['gpu_sparse_ms']:.3f} ms sparse "
                f"({semi['gpu_speedup']:.2f}x, {semi['note']})"
            )
    return "\n".join(lines)
