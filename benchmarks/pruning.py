"""Pruning goals, each against a dense baseline trained in the same run.

1. Gradual pruning to 80% global unstructured sparsity (conf/pruning/gradual.yaml) loses <= 1
   accuracy point on the examples (the digits CNN and the default breast-cancer MLP), averaged
   over seeds; the dense baseline trains the same number of epochs.
   The 80%-sparse package's weights file is >= 3x smaller than the dense one's (pruned tensors are
   stored as bitmask + values; the package loads without pickle and predicts identically).
2. `neurons` at 50% (conf/pruning/neurons.yaml) on a wide breast-cancer MLP gives >= 1.5x CPU
   inference speed-up at batch 1024 and a >= 40% smaller package.
3. `pruning.kind: semi_structured` (2:4): speed-up of PyTorch's semi-structured sparse kernels on an
   fp16 8192x8192 linear layer, where a CUDA GPU exists; on other machines it says it was not measured.

    .venv/bin/python benchmarks/pruning.py            # real size
    .venv/bin/python benchmarks/pruning.py --smoke    # CI size
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
ACCURACY_LOSS_GOAL = 0.01
SPEEDUP_GOAL = 1.5
SIZE_REDUCTION_GOAL = 0.40
SPARSE_PACKAGE_GOAL = 3.0


def prepared(experiment: str, directory: Path) -> Any:
    from mlops_declare.config import load_config
    from mlops_declare.data import prepare_dataset
    from mlops_declare.train.data import training_data_from_prepared

    loaded = load_config(REPO / "conf", [f"experiment={experiment}"])
    return training_data_from_prepared(prepare_dataset(loaded.config.data, directory, project_root=REPO).directory)


def train(overrides: list[str], data: Any, directory: Path) -> Any:
    from mlops_declare.config import load_config
    from mlops_declare.train.fit import train_model

    loaded = load_config(REPO / "conf", ["trainer.progress_bar=false", "trainer.early_stopping=null", *overrides])
    return train_model(loaded, data, directory)


def unstructured_accuracy(
    root: Path, seeds: list[int], schedule: list[str], experiment: str = "digits_cnn"
) -> dict[str, Any]:
    """Test accuracy of dense and 80%-sparse models of `experiment` trained for the same epochs, per seed."""
    data = prepared(experiment, root / experiment)
    from mlops_declare.train.package import load_package

    dense, sparse, sparsity, sizes, identical = [], [], [], [], []
    for seed in seeds:
        common = [
            f"experiment={experiment}",
            f"trainer.seed={seed}",
            *[key for key in schedule if key.startswith("trainer.")],
        ]
        dense_result = train([*common, "pruning=none"], data, root / f"{experiment}_dense_{seed}")
        dense.append(dense_result.metrics["test"]["accuracy"])
        result = train(
            [*common, "pruning=gradual", *[key for key in schedule if key.startswith("pruning.")]],
            data,
            root / f"{experiment}_sparse_{seed}",
        )
        sparse.append(result.metrics["test"]["accuracy"])
        after = result.pruning_report["after"]
        sparsity.append(1 - after["nonzero_parameters"] / after["parameters"])
        weights = [
            (path / "weights.safetensors").stat().st_size for path in (dense_result.package_dir, result.package_dir)
        ]
        sizes.append(weights[0] / weights[1])
        # The reloaded sparse package scores exactly what training measured on the test split.
        package = load_package(result.package_dir)
        outputs = package.predict(data.splits["test"][0])
        labels = (outputs >= 0.5).astype(int) if outputs.ndim == 1 else outputs.argmax(axis=1)
        identical.append(
            abs(float((labels == data.splits["test"][1]).mean()) - result.metrics["test"]["accuracy"]) < 1e-6
        )
    return {"dense": dense, "sparse": sparse, "sparsity": sparsity, "size_ratio": sizes, "identical": identical}


def semi_structured_speed(size: int = 8192, repeats: int = 50) -> dict[str, Any] | None:
    """fp16 `size`x`size` linear layer with a 2:4 mask: dense vs semi-structured kernels on the GPU (None without one)."""
    from mlops_declare.train.pruning import semi_structured_available, semi_structured_inference
    from mlops_declare.train.report import _gpu_ms

    if not semi_structured_available():
        return None
    torch.manual_seed(0)
    layer = torch.nn.Linear(size, size, bias=False)
    with torch.no_grad():
        groups = layer.weight.abs().reshape(size, -1, 4)
        keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, groups.topk(2, dim=-1).indices, True)
        layer.weight.mul_(keep.reshape(size, size))
    network = torch.nn.Sequential(layer)
    dense = network.to(device="cuda", dtype=torch.float16).eval()
    sparse = semi_structured_inference(network)
    inputs = torch.randn(size, size, device="cuda", dtype=torch.float16)
    with torch.no_grad():
        difference = float((dense(inputs) - sparse(inputs)).abs().max())
    dense_ms, sparse_ms = _gpu_ms(dense, inputs, repeats), _gpu_ms(sparse, inputs, repeats)
    return {
        "dense_ms": dense_ms,
        "sparse_ms": sparse_ms,
        "device": torch.cuda.get_device_name(),
        "max_difference": difference,
    }


def neurons_speed(root: Path, hidden: list[int], epochs: int, threads: int) -> dict[str, Any]:
    """Dense vs 50%-neuron-pruned wide MLP: CPU latency at batch 1024 (interleaved runs) and package size."""
    from mlops_declare.train.evaluate import cpu_latency_ms
    from mlops_declare.train.package import load_package

    data = prepared("breast_cancer_mlp", root / "cancer")
    shape = f"model.hidden=[{','.join(map(str, hidden))}]"
    schedule = [f"trainer.max_epochs={epochs}", f"pruning.end_epoch={max(epochs - 4, 2)}", "pruning.start_epoch=1"]
    dense_result = train(
        ["experiment=breast_cancer_mlp", shape, f"trainer.max_epochs={epochs}"], data, root / "wide_dense"
    )
    pruned_result = train(
        ["experiment=breast_cancer_mlp", shape, "pruning=neurons", *schedule], data, root / "wide_neurons"
    )
    dense, pruned = load_package(dense_result.package_dir), load_package(pruned_result.package_dir)
    torch.set_num_threads(threads)
    features = data.splits["test"][0]
    dense_ms, pruned_ms = [], []
    for _ in range(5):
        dense_ms.append(cpu_latency_ms(dense.network, features, 1024))
        pruned_ms.append(cpu_latency_ms(pruned.network, features, 1024))
    dense_bytes = sum(path.stat().st_size for path in dense.directory.glob("weights.safetensors"))
    pruned_bytes = sum(path.stat().st_size for path in pruned.directory.glob("weights.safetensors"))
    dense_package = sum(path.stat().st_size for path in dense.directory.iterdir())
    pruned_package = sum(
        path.stat().st_size for path in pruned.directory.iterdir() if path.name != "pruning_report.json"
    )
    return {
        "hidden": (dense.architecture["hidden"], pruned.architecture["hidden"]),
        "dense_ms": statistics.median(dense_ms),
        "pruned_ms": statistics.median(pruned_ms),
        "dense_weights": dense_bytes,
        "pruned_weights": pruned_bytes,
        "dense_package": dense_package,
        "pruned_package": pruned_package,
        "dense_accuracy": dense_result.metrics["test"]["accuracy"],
        "pruned_accuracy": pruned_result.metrics["test"]["accuracy"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    parser.add_argument("--seeds", type=int, default=5, help="seeds averaged for the accuracy goal")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the latency measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.smoke:
        seeds = [0]
        schedule = [
            "trainer.max_epochs=3",
            "pruning.start_epoch=0",
            "pruning.end_epoch=1",
            "pruning.fine_tune_epochs=1",
        ]
        hidden, epochs = [64, 32], 6
    else:
        seeds, schedule, hidden, epochs = list(range(args.seeds)), [], [1024, 1024], 14
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        accuracy = {
            experiment: unstructured_accuracy(root, seeds, schedule, experiment)
            for experiment in ("digits_cnn", "breast_cancer_mlp")
        }
        speed = neurons_speed(root, hidden, epochs, args.threads)
        semi = semi_structured_speed(1024 if args.smoke else 8192)
    print(f"1. gradual l1_unstructured, global, to 80% sparsity (seeds {seeds}; test accuracy)")
    for experiment, figures in accuracy.items():
        dense, sparse = statistics.mean(figures["dense"]), statistics.mean(figures["sparse"])
        loss = dense - sparse
        print(f"   {experiment}: dense {dense:.4f} {[round(value, 4) for value in figures['dense']]}")
        print(
            f"   {'':<{len(experiment)}}  sparse {sparse:.4f} {[round(value, 4) for value in figures['sparse']]}, "
            f"sparsity of all parameters {statistics.mean(figures['sparsity']):.3f}"
        )
        print(
            f"   {'':<{len(experiment)}}  loss {loss * 100:+.2f} points (goal <= {ACCURACY_LOSS_GOAL * 100:.0f}: "
            f"{'met' if loss <= ACCURACY_LOSS_GOAL else 'NOT met'})"
        )
        ratio = statistics.mean(figures["size_ratio"])
        print(
            f"   {'':<{len(experiment)}}  package weights {ratio:.2f}x smaller than dense (goal >= {SPARSE_PACKAGE_GOAL:.0f}x: "
            f"{'met' if ratio >= SPARSE_PACKAGE_GOAL else 'NOT met'}); reloaded package predicts identically: "
            f"{'yes' if all(figures['identical']) else 'NO'}"
        )
    speedup = speed["dense_ms"] / speed["pruned_ms"]
    reduction = 1 - speed["pruned_package"] / speed["dense_package"]
    print(f"2. breast-cancer MLP, neurons 50%: hidden {speed['hidden'][0]} -> {speed['hidden'][1]}")
    print(
        f"   CPU ms per batch of 1024 ({args.threads} thread): dense {speed['dense_ms']:.3f}, pruned {speed['pruned_ms']:.3f}"
    )
    print(f"   speed-up {speedup:.2f}x (goal >= {SPEEDUP_GOAL}: {'met' if speedup >= SPEEDUP_GOAL else 'NOT met'})")
    print(
        f"   weights {speed['dense_weights']:,} -> {speed['pruned_weights']:,} bytes; "
        f"package {speed['dense_package']:,} -> {speed['pruned_package']:,} bytes (without the pruning report)"
    )
    print(
        f"   package {reduction:.1%} smaller (goal >= {SIZE_REDUCTION_GOAL:.0%}: {'met' if reduction >= SIZE_REDUCTION_GOAL else 'NOT met'})"
    )
    print(f"   test accuracy dense {speed['dense_accuracy']:.4f}, pruned {speed['pruned_accuracy']:.4f}")
    if semi is None:
        from mlops_declare.train.pruning import SEMI_STRUCTURED_NEEDS

        print(f"3. semi-structured 2:4: speed-up not measured: {SEMI_STRUCTURED_NEEDS}; this machine has none")
    else:
        print(
            f"3. semi-structured 2:4, fp16 linear layer on {semi['device']}: dense {semi['dense_ms']:.3f} ms, "
            f"sparse {semi['sparse_ms']:.3f} ms, speed-up {semi['dense_ms'] / semi['sparse_ms']:.2f}x "
            f"(max |difference| {semi['max_difference']:.3g})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
