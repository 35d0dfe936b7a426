"""Model factories: shapes, embeddings of one-hot blocks, and architecture errors a user can act on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlops_declare.errors import TrainingError
from mlops_declare.train.checks import selected_metrics
from mlops_declare.train.data import CategoricalInput, TrainingData, training_data_from_arrays
from mlops_declare.train.module import build_metrics, task_loss
from mlops_declare.train.networks import architecture_for, build_network, outputs_to_predictions
from tests.unit.train.conftest import example_config


@pytest.mark.parametrize(
    ("overrides", "fixture", "outputs"),
    [
        (("model=mlp", "model.batch_norm=true"), "cancer_data", 1),
        (("experiment=digits_cnn",), "digits_data", 10),
        (("experiment=digits_cnn", "model=transformer", "model.task=multiclass", "model.seq_len=8"), "digits_data", 10),
        (("model=transformer",), "cancer_data", 1),
        (("experiment=digits_cnn", "model=mlp", "model.task=multiclass"), "digits_data", 10),
    ],
)
def test_each_kind_maps_a_batch_to_its_outputs(
    overrides: tuple[str, ...], fixture: str, outputs: int, request: pytest.FixtureRequest
) -> None:
    data: TrainingData = request.getfixturevalue(fixture)
    architecture = architecture_for(example_config(*overrides).config.model, data)
    network = build_network(architecture).eval()
    features = torch.from_numpy(data.splits["val"][0][:7])
    assert network(features).shape == (7, outputs)
    assert architecture["num_outputs"] == outputs


def test_mlp_embeds_one_hot_blocks_like_an_embedding_lookup() -> None:
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(40, 2)).astype(np.float32)
    codes = rng.integers(0, 4, size=40)
    one_hot = np.eye(4, dtype=np.float32)[codes]
    features = np.concatenate([numeric[:, :1], one_hot, numeric[:, 1:]], axis=1)
    targets = rng.integers(0, 2, size=40)
    data = training_data_from_arrays(
        {name: (features, targets) for name in ("train", "val", "test")},
        categorical=[CategoricalInput(index=1, cardinality=4, name="colour")],
    )
    architecture = architecture_for(example_config("model.embedding_dim=3").config.model, data)
    network = build_network(architecture)
    encoded = network.encode(torch.from_numpy(features))
    assert encoded.shape == (40, 2 + 3)
    expected = network.embeddings[0](torch.from_numpy(codes))
    torch.testing.assert_close(encoded[:, 2:], expected)
    torch.testing.assert_close(encoded[:, :2], torch.from_numpy(numeric))


def test_cnn_on_a_table_is_an_error_naming_the_alternatives(cancer_data: TrainingData) -> None:
    model = example_config("model=cnn", "model.task=binary", "model.num_classes=null").config.model
    with pytest.raises(
        TrainingError,
        match=r"model.kind .cnn. needs an image feature .*30 tabular features \(use model=mlp or model=transformer\)",
    ):
        architecture_for(model, cancer_data)


def test_seq_len_must_divide_the_inputs(cancer_data: TrainingData) -> None:
    with pytest.raises(TrainingError, match=r"model.seq_len \(7\) must divide the number of input values \(30\)"):
        architecture_for(example_config("model=transformer", "model.seq_len=7").config.model, cancer_data)


def test_fewer_configured_classes_than_the_data_has(digits_data: TrainingData) -> None:
    model = example_config("experiment=digits_cnn", "model.num_classes=5").config.model
    with pytest.raises(TrainingError, match="model.num_classes is 5 but the data has 10 classes"):
        architecture_for(model, digits_data)


def test_regression_predictions_are_in_target_units(diabetes_data: TrainingData) -> None:
    model = example_config("model.task=regression").config.model
    architecture = architecture_for(model, diabetes_data)
    assert architecture["target_mean"] == pytest.approx(float(diabetes_data.splits["train"][1].mean()), rel=1e-5)
    zero = torch.zeros(3, 1)
    assert torch.allclose(outputs_to_predictions(zero, architecture), torch.full((3,), architecture["target_mean"]))
    targets = torch.full((3,), architecture["target_mean"])
    assert float(task_loss(zero, targets, architecture)) == pytest.approx(0.0, abs=1e-6)


def test_metric_selection_follows_the_task() -> None:
    trainer = example_config().config.trainer
    assert selected_metrics(trainer, "regression") == ["mse", "mae", "r2", "loss"]
    picky = example_config("trainer.metrics=[mse]").config.trainer
    with pytest.raises(
        TrainingError, match=r"trainer.metrics: 'mse' not computed for task 'binary'; allowed: 'accuracy'"
    ):
        selected_metrics(picky, "binary")
    collection = build_metrics("multiclass", 3, ["accuracy", "f1", "loss"])
    collection.update(torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]), torch.tensor([0, 2]))
    assert float(collection.compute()["accuracy"]) == pytest.approx(0.5)
