"""GPU precision benchmark: the transformer config trained by the framework at 32-true, 32-true + TF32,
16-mixed and bf16-mixed, each against a raw PyTorch loop of the same model, batch and steps.

Prints samples/s, ms/step and peak memory per precision and the ratio framework / raw loop.
Targets on an H100/H200: bf16-mixed >= 5x 32-true, and framework >= 0.9x the raw bf16 loop.
Reference (raw loop, H200, 8-layer d=1024 encoder, batch 32 x 512 tokens): fp32 245 ms/step,
TF32 85 ms, bf16-mixed 34.6 ms, 16-mixed 35.9 ms; peak memory 8.9 GB fp32 vs 5.6 GB bf16.

    .venv/bin/python benchmarks/gpu_precision.py            # real size, needs a CUDA GPU
    .venv/bin/python benchmarks/gpu_precision.py --smoke    # tiny model, still needs a CUDA GPU
    .venv/bin/python benchmarks/gpu_precision.py --smoke --cpu-dry-run   # exercise the code paths on a CPU

Without a CUDA GPU (and without --cpu-dry-run) it exits with status 2 and says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
NO_GPU_EXIT = 2
VARIANTS = (
    ("32-true", "32-true", "highest"),
    ("32-true+TF32", "32-true", "high"),
    ("16-mixed", "16-mixed", "highest"),
    ("bf16-mixed", "bf16-mixed", "highest"),
)


@dataclass(frozen=True)
class Size:
    d_model: int
    n_heads: int
    n_layers: int
    ff_dim: int
    tokens: int
    token_width: int
    batch: int
    warmup: int
    steps: int


REAL = Size(
    d_model=1024, n_heads=16, n_layers=8, ff_dim=4096, tokens=512, token_width=16, batch=32, warmup=10, steps=40
)
SMOKE = Size(d_model=64, n_heads=4, n_layers=2, ff_dim=128, tokens=16, token_width=4, batch=8, warmup=2, steps=5)


def overrides(size: Size, precision: str, matmul: str, device: str) -> list[str]:
    """The tabular_transformer experiment scaled to the benchmark model, on one GPU."""
    return [
        "experiment=tabular_transformer",
        "trainer=gpu" if device == "cuda" else "trainer=cpu",
        f"trainer.precision={precision}",
        f"trainer.matmul_precision={matmul}",
        "trainer.max_epochs=1",
        "trainer.early_stopping=null",
        "trainer.progress_bar=false",
        "trainer.optimizer.lr=1e-4",
        f"data.batch_size={size.batch}",
        f"model.d_model={size.d_model}",
        f"model.n_heads={size.n_heads}",
        f"model.n_layers={size.n_layers}",
        f"model.ff_dim={size.ff_dim}",
        f"model.seq_len={size.tokens}",
        "model.dropout=0.0",
    ]


def synthetic_data(size: Size) -> Any:
    """Random token features with a learnable binary label; enough rows for warm-up + timed steps."""
    from mlops_declare.train.data import training_data_from_arrays

    rng = np.random.default_rng(0)
    rows = size.batch * (size.warmup + size.steps + 1)
    features = rng.standard_normal((rows, size.tokens * size.token_width), dtype=np.float32)
    labels = (features[:, : size.token_width].sum(axis=1) > 0).astype(np.int64)
    small = slice(0, size.batch * 2)
    return training_data_from_arrays(
        {"train": (features, labels), "val": (features[small], labels[small]), "test": (features[small], labels[small])}
    )


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_gb(device: str) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else float("nan")


def reset_peak_memory(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


class StepTimer:
    """Lightning callback: wall time of training steps warmup..warmup+steps, with CUDA synchronised at both ends."""

    def __new__(cls, warmup: int, steps: int, device: str) -> Any:
        import lightning as L

        class _Timer(L.Callback):
            def __init__(self) -> None:
                self.started = 0.0
                self.seconds = float("nan")

            def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
                if batch_idx == warmup:
                    synchronize(device)
                    self.started = time.perf_counter()

            def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
                if batch_idx == warmup + steps - 1:
                    synchronize(device)
                    self.seconds = time.perf_counter() - self.started
                    trainer.should_stop = True

        return _Timer()


def framework_run(size: Size, precision: str, matmul: str, directory: Path, device: str) -> tuple[float, float]:
    """Seconds for the timed steps and peak GPU memory (GB) of the framework's training."""
    from mlops_declare.config import load_config
    from mlops_declare.train.fit import train_model

    loaded = load_config(REPO / "conf", overrides(size, precision, matmul, device))
    timer = StepTimer(size.warmup, size.steps, device)
    reset_peak_memory(device)
    train_model(loaded, synthetic_data(size), directory, extra_callbacks=[timer])
    return timer.seconds, peak_memory_gb(device)


def raw_run(size: Size, precision: str, matmul: str, device: str) -> tuple[float, float]:
    """The same network, optimiser and batches in a hand-written loop."""
    import torch

    from mlops_declare.config import load_config
    from mlops_declare.train.module import task_loss
    from mlops_declare.train.networks import architecture_for, build_network

    loaded = load_config(REPO / "conf", overrides(size, precision, matmul, device))
    data = synthetic_data(size)
    architecture = architecture_for(loaded.config.model, data)
    torch.set_float32_matmul_precision(matmul)
    torch.manual_seed(0)
    network = build_network(architecture).to(device)
    settings = loaded.config.trainer.optimizer
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    dtype = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler(device, enabled=precision == "16-mixed")
    features, labels = (torch.from_numpy(array) for array in data.splits["train"])
    reset_peak_memory(device)
    started = 0.0
    for step in range(size.warmup + size.steps):
        if step == size.warmup:
            synchronize(device)
            started = time.perf_counter()
        rows = slice(step * size.batch, (step + 1) * size.batch)
        inputs, targets = features[rows].to(device, non_blocking=True), labels[rows].to(device, non_blocking=True)
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = task_loss(network(inputs), targets, architecture)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    synchronize(device)
    seconds = time.perf_counter() - started
    return seconds, peak_memory_gb(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny model and few steps")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default 40; smoke 5)")
    parser.add_argument(
        "--cpu-dry-run",
        action="store_true",
        help="run the code paths on the CPU (32-true and bf16-mixed only); numbers mean nothing",
    )
    args = parser.parse_args(argv)
    import torch

    device = "cpu" if args.cpu_dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_precision: no CUDA GPU on this machine; this benchmark needs one (an H100/H200 for the targets). "
            "Nothing was measured.",
            file=sys.stderr,
        )
        return NO_GPU_EXIT
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    size = SMOKE if args.smoke else REAL
    if args.steps:
        size = Size(**{**size.__dict__, "steps": args.steps})
    where = (
        f"{torch.cuda.get_device_name()} (capability {'.'.join(map(str, torch.cuda.get_device_capability()))})"
        if device == "cuda"
        else "CPU (dry run: the numbers mean nothing)"
    )
    variants = (
        VARIANTS
        if device == "cuda"
        else tuple(variant for variant in VARIANTS if variant[0] in ("32-true", "bf16-mixed"))
    )
    print(
        f"gpu_precision on {where}, "
        f"torch {torch.__version__}: {size.n_layers}-layer d={size.d_model} encoder, batch {size.batch} x {size.tokens} tokens, "
        f"{size.steps} timed steps after {size.warmup} warm-up"
    )
    header = f"  {'variant':<14} {'fw samples/s':>13} {'fw ms/step':>11} {'fw peak GB':>11} {'raw samples/s':>14} {'raw ms/step':>12} {'raw peak GB':>12} {'fw/raw':>7}"
    print(header)
    throughput: dict[str, float] = {}
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as temporary:
        for name, precision, matmul in variants:
            raw_seconds, raw_memory = raw_run(size, precision, matmul, device)
            fw_seconds, fw_memory = framework_run(size, precision, matmul, Path(temporary) / name, device)
            samples = size.batch * size.steps
            throughput[name] = samples / fw_seconds
            ratios[name] = raw_seconds / fw_seconds
            print(
                f"  {name:<14} {samples / fw_seconds:>13.1f} {fw_seconds / size.steps * 1000:>11.1f} {fw_memory:>11.2f} "
                f"{samples / raw_seconds:>14.1f} {raw_seconds / size.steps * 1000:>12.1f} {raw_memory:>12.2f} {ratios[name]:>7.3f}"
            )
    speedup = throughput["bf16-mixed"] / throughput["32-true"]
    print(f"  bf16-mixed / 32-true (framework) = {speedup:.2f}x (target >= 5x: {'met' if speedup >= 5 else 'NOT met'})")
    print(
        f"  framework / raw bf16 loop = {ratios['bf16-mixed']:.3f} (target >= 0.9: {'met' if ratios['bf16-mixed'] >= 0.9 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
