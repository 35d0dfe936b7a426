"""Pruning schedules, global/local masks, include/exclude, lottery ticket, and physical removal of MLP units."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import TypeAdapter

from mlops_declare.config.pruning import GradualPruning, PruningConfig
from mlops_declare.errors import TrainingError
from mlops_declare.train.checks import epochs_needed
from mlops_declare.train.networks import build_network, parameter_count
from mlops_declare.train.pruning import (
    PruningCallback,
    current_mask,
    make_permanent,
    measured_sparsity,
    prunable_targets,
    pruning_epochs,
    target_sparsity,
)

ADAPTER: TypeAdapter[PruningConfig] = TypeAdapter(PruningConfig)


def gradual(**fields: object) -> GradualPruning:
    pruning = ADAPTER.validate_python({"kind": "gradual", **fields})
    assert isinstance(pruning, GradualPruning)
    return pruning


def mlp(hidden: list[int], batch_norm: bool = False, inputs: int = 12) -> tuple[torch.nn.Module, dict[str, object]]:
    architecture = {
        "kind": "mlp",
        "task": "multiclass",
        "hidden": hidden,
        "activation": "relu",
        "dropout": 0.0,
        "batch_norm": batch_norm,
        "embedding_dim": 4,
        "input_shape": [inputs],
        "num_outputs": 3,
        "categorical": [],
    }
    torch.manual_seed(0)
    return build_network(architecture), architecture


SCHEDULE = {"init_sparsity": 0.05, "final_sparsity": 0.8, "start_epoch": 2, "end_epoch": 10}


@pytest.mark.parametrize(
    ("schedule", "epoch", "expected"),
    [
        ("cubic", 1, 0.0),
        ("cubic", 2, 0.05),
        ("cubic", 6, 0.8 + (0.05 - 0.8) * 0.5**3),
        ("cubic", 10, 0.8),
        ("cubic", 14, 0.8),
        ("linear", 6, 0.425),
        ("linear", 4, 0.05 + 0.75 * 0.25),
        ("exponential", 6, 1 - math.sqrt(0.95 * 0.2)),
        ("exponential", 2, 0.05),
    ],
)
def test_schedule_values(schedule: str, epoch: int, expected: float) -> None:
    assert target_sparsity(gradual(schedule=schedule, **SCHEDULE), epoch) == pytest.approx(expected)


def test_one_shot_prunes_once_to_the_final_sparsity() -> None:
    pruning = gradual(schedule="one_shot", init_sparsity=0.0, final_sparsity=0.6, start_epoch=3, end_epoch=3)
    assert [target_sparsity(pruning, epoch) for epoch in (2, 3, 4)] == [0.0, 0.6, 0.6]
    assert pruning_epochs(pruning) == [3]


@pytest.mark.parametrize("schedule", ["cubic", "linear", "exponential"])
def test_schedules_never_decrease(schedule: str) -> None:
    pruning = gradual(schedule=schedule, **SCHEDULE)
    values = [target_sparsity(pruning, epoch) for epoch in range(15)]
    assert values == sorted(values)


def test_pruning_epochs_follow_frequency_and_end_on_end_epoch() -> None:
    assert pruning_epochs(gradual(frequency=3, **SCHEDULE)) == [2, 5, 8, 10]
    assert epochs_needed(gradual(fine_tune_epochs=3, **SCHEDULE)) == 14


def test_global_unstructured_reaches_the_target_over_all_layers_not_each() -> None:
    network, _ = mlp([64, 32])
    callback = PruningCallback(gradual(), seed=0)
    callback.prune_to(network, 0.5, epoch=0)
    callback.prune_to(network, 0.8, epoch=1)
    targets = prunable_targets(network, callback.pruning)
    assert measured_sparsity(targets, "l1_unstructured") == pytest.approx(0.8, abs=1e-3)
    per_layer = [float((current_mask(target) == 0).float().mean()) for target in targets]
    assert max(per_layer) - min(per_layer) > 0.05  # global ranking: layers end up at different sparsities
    assert [step["target"] for step in callback.steps] == [0.5, 0.8]


def test_pruned_weights_stay_pruned_across_steps() -> None:
    network, _ = mlp([32])
    callback = PruningCallback(gradual(), seed=0)
    callback.prune_to(network, 0.4, epoch=0)
    first = current_mask(prunable_targets(network, callback.pruning)[0]).clone()
    callback.prune_to(network, 0.7, epoch=1)
    second = current_mask(prunable_targets(network, callback.pruning)[0])
    assert torch.all(second[first == 0] == 0)


def test_local_scope_prunes_every_layer_to_the_target() -> None:
    network, _ = mlp([64, 32])
    callback = PruningCallback(gradual(scope="local"), seed=0)
    callback.prune_to(network, 0.6, epoch=0)
    for target in prunable_targets(network, callback.pruning):
        assert float((current_mask(target) == 0).float().mean()) == pytest.approx(0.6, abs=0.01)


def test_exclude_keeps_the_output_layer_dense() -> None:
    network, _ = mlp([16])
    callback = PruningCallback(gradual(exclude=[r"^output\."]), seed=0)
    callback.prune_to(network, 0.5, epoch=0)
    assert [target.parameter for target in prunable_targets(network, callback.pruning)] == ["layers.0.weight"]
    assert not hasattr(network.output, "weight_mask")


def test_patterns_that_select_nothing_are_an_error_naming_the_choices() -> None:
    network, _ = mlp([16])
    with pytest.raises(
        TrainingError,
        match=r"select no parameter; prunable parameters of this model: layers\.0\.weight, output\.weight",
    ):
        prunable_targets(network, gradual(include=["^conv"]))


def test_random_pruning_is_reproducible_for_a_seed_and_epoch() -> None:
    masks = []
    for _ in range(2):
        network, _ = mlp([32])
        PruningCallback(gradual(method="random_unstructured"), seed=7).prune_to(network, 0.5, epoch=3)
        masks.append(network.layers[0].weight_mask.clone())
    assert torch.equal(masks[0], masks[1])


def test_ln_structured_removes_whole_rows_but_never_output_classes() -> None:
    network, _ = mlp([20])
    callback = PruningCallback(gradual(method="ln_structured", scope="local"), seed=0)
    callback.prune_to(network, 0.5, epoch=0)
    assert not hasattr(network.output, "weight_mask")
    mask = network.layers[0].weight_mask
    row_sums = mask.sum(dim=1)
    assert int((row_sums == 0).sum()) == 10
    assert set(row_sums.tolist()) <= {0.0, float(mask.shape[1])}


def test_lottery_ticket_resets_surviving_weights_to_their_initial_values() -> None:
    network, _ = mlp([16])
    initial = network.layers[0].weight.detach().clone()
    callback = PruningCallback(gradual(lottery_ticket=True), seed=0)
    callback.initial_state = {
        target.parameter: getattr(target.module, target.name).detach().clone()
        for target in prunable_targets(network, callback.pruning)
    }
    with torch.no_grad():
        network.layers[0].weight.add_(1.0)  # "training" moves the weights
    callback.prune_to(network, 0.5, epoch=0)
    kept = network.layers[0].weight_mask.bool()
    assert torch.equal(network.layers[0].weight[kept], initial[kept])


def test_make_permanent_leaves_plain_weights_with_zeros() -> None:
    network, _ = mlp([16])
    PruningCallback(gradual(), seed=0).prune_to(network, 0.5, epoch=0)
    make_permanent(network)
    names = set(dict(network.named_parameters())) | set(dict(network.named_buffers()))
    assert not any(name.endswith(("_orig", "_mask")) for name in names)
    assert float((network.layers[0].weight == 0).float().mean()) > 0.3


@pytest.mark.parametrize("batch_norm", [False, True])
def test_neurons_removes_hidden_units_and_keeps_the_outputs(batch_norm: bool) -> None:
    network, architecture = mlp([64, 32], batch_norm=batch_norm)
    if batch_norm:
        # Non-trivial running statistics, so removed units emit constants that must be folded.
        network.train()
        with torch.no_grad():
            for _ in range(5):
                network(torch.randn(32, 12) * 3 + 1)
    callback = PruningCallback(gradual(method="neurons", scope="local", final_sparsity=0.5), seed=0)
    callback.prune_to(network, 0.5, epoch=0)
    network.eval()
    inputs = torch.randn(50, 12)
    with torch.no_grad():
        masked_outputs = network(inputs)
    smaller, new_architecture = callback.finalize(network, architecture, epoch=1)
    assert new_architecture["hidden"] == [32, 16]
    assert [layer.weight.shape for layer in smaller.layers] == [torch.Size([32, 12]), torch.Size([16, 32])]
    assert smaller.output.weight.shape == torch.Size([3, 16])
    assert parameter_count(smaller) < 0.6 * parameter_count(mlp([64, 32], batch_norm=batch_norm)[0])
    with torch.no_grad():
        torch.testing.assert_close(smaller(inputs), masked_outputs, rtol=1e-5, atol=1e-5)


def test_neurons_only_applies_to_mlps() -> None:
    cnn = build_network(
        {
            "kind": "cnn",
            "task": "multiclass",
            "channels": [4],
            "kernel_size": 3,
            "hidden": 8,
            "activation": "relu",
            "dropout": 0.0,
            "input_shape": [1, 8, 8],
            "num_outputs": 10,
        }
    )
    with pytest.raises(TrainingError, match="'neurons' removes hidden units of an MLP; this model is a CnnNetwork"):
        prunable_targets(cnn, gradual(method="neurons", scope="local"))


def test_finalize_reaches_the_final_sparsity_when_training_ended_early() -> None:
    network, architecture = mlp([32])
    callback = PruningCallback(gradual(final_sparsity=0.7), seed=0)
    callback.prune_to(network, 0.2, epoch=0)
    finished, _ = callback.finalize(network, architecture, epoch=1)
    weights = [finished.layers[0].weight, finished.output.weight]
    zeros = sum(int((weight == 0).sum()) for weight in weights) / sum(weight.numel() for weight in weights)
    assert zeros == pytest.approx(0.7, abs=1e-3)
    assert "final sparsity applied after training" in callback.steps[-1]["note"]
    assert callback.dense_network(architecture) is not None
