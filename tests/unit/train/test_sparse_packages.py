"""Pruning that buys something: sparse package weights (smaller, no pickle, same predictions) and
2:4 semi-structured masks whose GPU kernels are refused clearly on a machine without CUDA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from mlops_declare.config.pruning import PruningConfig, SemiStructuredPruning, pruning_schedule
from mlops_declare.errors import TrainingError
from mlops_declare.train.package import WEIGHTS_FILE, export_package, load_package, weights_bytes
from mlops_declare.train.pruning import (
    PruningCallback,
    prunable_targets,
    semi_structured_available,
    semi_structured_inference,
)
from mlops_declare.train.report import render_pruning_report
from tests.unit.train.test_pruning import gradual, mlp

ADAPTER: TypeAdapter[PruningConfig] = TypeAdapter(PruningConfig)


def test_an_80_percent_sparse_package_is_over_3x_smaller_and_predicts_identically(tmp_path: Path) -> None:
    network, architecture = mlp([256, 128], inputs=64)
    dense_bytes = len(weights_bytes(network))
    callback = PruningCallback(gradual(final_sparsity=0.8), seed=0)
    callback.prune_to(network, 0.8, epoch=0)
    network, architecture = callback.finalize(network, architecture, epoch=0)
    spec = {"architecture": architecture}
    package = load_package(export_package(tmp_path / "model", network, spec, {}, {}))

    stored = (package.directory / WEIGHTS_FILE).stat().st_size
    assert dense_bytes / stored >= 3.0
    header = json.loads(
        (package.directory / WEIGHTS_FILE).read_bytes()[8:][
            : int.from_bytes((package.directory / WEIGHTS_FILE).read_bytes()[:8], "little")
        ]
    )
    assert "mlops_declare.sparse" in header["__metadata__"]  # bitmask + values, not a pickle
    features = np.random.default_rng(0).normal(size=(50, 64)).astype(np.float32)
    with torch.no_grad():
        expected = network.eval()(torch.from_numpy(features)).numpy()
    assert np.array_equal(package.outputs(features), expected)
    for name, tensor in network.state_dict().items():
        assert torch.equal(package.network.state_dict()[name], tensor)


def test_a_dense_network_is_stored_plainly() -> None:
    network, _ = mlp([32])
    assert b"mlops_declare.sparse" not in weights_bytes(network)


def test_semi_structured_config_becomes_a_one_shot_schedule() -> None:
    pruning = ADAPTER.validate_python({"kind": "semi_structured", "prune_epoch": 3, "fine_tune_epochs": 2})
    assert isinstance(pruning, SemiStructuredPruning)
    schedule = pruning_schedule(pruning)
    assert schedule is not None
    assert (schedule.method, schedule.start_epoch, schedule.end_epoch, schedule.final_sparsity) == (
        "semi_structured",
        3,
        3,
        0.5,
    )


def test_semi_structured_keeps_two_of_every_four_weights_in_linear_layers() -> None:
    network, architecture = mlp([64], inputs=32)
    schedule = pruning_schedule(SemiStructuredPruning(kind="semi_structured"))
    assert schedule is not None
    callback = PruningCallback(schedule, seed=0)
    callback.prune_to(network, 0.5, epoch=0)
    assert callback.reached == pytest.approx(0.5)
    network, _ = callback.finalize(network, architecture, epoch=0)
    for target in prunable_targets(network, schedule):
        weight = target.module.weight
        groups = (weight.reshape(weight.shape[0], -1, 4) != 0).sum(dim=-1)
        assert int(groups.max()) <= 2


def test_semi_structured_leaves_layers_whose_width_is_not_a_multiple_of_four_dense() -> None:
    network, architecture = mlp([8], inputs=30)
    schedule = pruning_schedule(SemiStructuredPruning(kind="semi_structured"))
    assert schedule is not None
    assert [target.parameter for target in prunable_targets(network, schedule)] == ["output.weight"]
    callback = PruningCallback(schedule, seed=0)
    callback.prune_to(network, 0.5, epoch=0)
    network, _ = callback.finalize(network, architecture, epoch=0)
    assert int((network.layers[0].weight == 0).sum()) == 0
    assert int((network.output.weight == 0).sum()) == network.output.weight.numel() // 2


@pytest.mark.skipif(semi_structured_available(), reason="this machine has a CUDA GPU for the 2:4 kernels")
def test_semi_structured_kernels_say_they_need_a_cuda_gpu() -> None:
    network, _ = mlp([64], inputs=64)
    with pytest.raises(TrainingError, match="need a CUDA GPU"):
        semi_structured_inference(network)


def test_report_says_how_much_smaller_and_that_the_gpu_speedup_was_not_measured() -> None:
    report = {
        "method": "semi_structured",
        "scope": "local",
        "schedule": "one_shot",
        "final_sparsity": 0.5,
        "layers": [],
        "before_is": "dense",
        "latency_batch": 1024,
        "speedup": 1.0,
        "size_ratio": 0.5,
        "before": {"parameters": 10, "nonzero_parameters": 10, "package_bytes": 100, "val": {}, "cpu_latency_ms": 1.0},
        "after": {"parameters": 10, "nonzero_parameters": 5, "package_bytes": 50, "val": {}, "cpu_latency_ms": 1.0},
        "semi_structured": {
            "gpu_speedup": None,
            "note": "not measured: PyTorch's semi-structured (2:4) sparse kernels need a CUDA GPU",
        },
    }
    text = render_pruning_report(report)
    assert "2.00x smaller" in text
    assert "semi-structured 2:4 GPU speed-up not measured" in text


def test_training_with_semi_structured_pruning_on_the_cpu(tmp_path: Path) -> None:
    """The whole run works without a GPU: 2:4 mask, fine-tuning, a smaller package, and a report that
    says the GPU speed-up was not measured here."""
    from sklearn.datasets import load_breast_cancer

    from mlops_declare.train.data import training_data_from_arrays
    from mlops_declare.train.fit import train_model
    from tests.unit.train.conftest import example_config, split_three, standardise

    features, targets = load_breast_cancer(return_X_y=True)
    data = training_data_from_arrays(split_three(standardise(features)[:, :28], targets))
    loaded = example_config(
        "pruning=semi_structured",
        "pruning.prune_epoch=1",
        "pruning.fine_tune_epochs=1",
        "trainer.max_epochs=3",
        "model.hidden=[64,32]",
    )
    result = train_model(loaded, data, tmp_path)
    report = result.pruning_report
    assert report is not None and report["method"] == "semi_structured"
    assert {row["parameter"]: row["sparsity"] for row in report["layers"]} == {
        "layers.0.weight": 0.5,
        "layers.1.weight": 0.5,
        "output.weight": 0.5,
    }
    assert report["size_ratio"] < 0.6
    if not semi_structured_available():
        assert report["semi_structured"]["gpu_speedup"] is None
        assert "need a CUDA GPU" in report["semi_structured"]["note"]
    assert result.metrics["val"]["accuracy"] > 0.85
