"""Precision policy: `auto`, the run-time re-check with the compiler's wording, and training at each CPU precision."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlops_declare.config.trainer import auto_precision, precision_problem
from mlops_declare.errors import TrainingError
from mlops_declare.train.data import TrainingData
from mlops_declare.train.fit import train_model
from mlops_declare.train.package import load_package
from mlops_declare.train.precision import non_finite_hint, resolve_precision
from tests.unit.train.conftest import example_config

cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without a GPU does")


@pytest.mark.parametrize(
    ("capability", "has_cuda", "expected"),
    [(None, False, "32-true"), ((7, 0), True, "32-true"), ((8, 0), True, "bf16-mixed"), ((9, 0), True, "bf16-mixed")],
)
def test_auto_is_bf16_where_the_gpu_supports_it(
    capability: tuple[int, int] | None, has_cuda: bool, expected: str
) -> None:
    assert auto_precision(capability, has_cuda) == expected


@cpu_only
@pytest.mark.parametrize("precision", ["16-mixed", "16-true", "transformer-engine"])
def test_run_time_check_rejects_what_the_cpu_cannot_run(precision: str) -> None:
    trainer = example_config(f"trainer.precision={precision}").config.trainer
    with pytest.raises(TrainingError) as error:
        resolve_precision(trainer)
    assert str(error.value) == f"trainer.precision: {precision_problem(precision, 'cpu', None, False)}"


@cpu_only
def test_sixteen_mixed_message_names_the_fix() -> None:
    trainer = example_config("trainer.precision=16-mixed").config.trainer
    with pytest.raises(
        TrainingError,
        match=r"^trainer\.precision: '16-mixed' needs a CUDA GPU; this run has only CPU \(use 32-true or bf16-mixed\)$",
    ):
        resolve_precision(trainer)


@cpu_only
def test_gpu_accelerator_without_a_gpu_is_an_error() -> None:
    trainer = example_config("trainer=gpu").config.trainer
    with pytest.raises(TrainingError, match=r"trainer\.accelerator: 'gpu' needs a CUDA GPU; this run has only CPU"):
        resolve_precision(trainer)


@cpu_only
def test_auto_on_this_cpu_resolves_to_32_true() -> None:
    decision = resolve_precision(example_config("trainer.precision=auto", "trainer.accelerator=auto").config.trainer)
    assert (decision.requested, decision.used, decision.accelerator) == ("auto", "32-true", "cpu")


def test_hints_for_non_finite_losses() -> None:
    assert "try trainer.precision=bf16-mixed" in non_finite_hint("16-mixed")
    assert "fp16" not in non_finite_hint("32-true")


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "64-true", "bf16-true"])
def test_trains_on_the_cpu_and_records_the_precision_used(
    precision: str, cancer_data: TrainingData, tmp_path: Path
) -> None:
    loaded = example_config(
        f"trainer.precision={precision}", "trainer.max_epochs=3", "trainer.optimizer.lr=0.01", "model.hidden=[16]"
    )
    result = train_model(loaded, cancer_data, tmp_path)
    assert result.precision.used == precision
    assert result.metrics["test"]["accuracy"] > 0.8
    package = load_package(tmp_path / "model")
    assert package.spec["precision_used"] == precision
    assert package.spec["precision"]["accelerator"] == "cpu"
    assert all(
        tensor.dtype == torch.float32 for tensor in package.network.state_dict().values() if tensor.is_floating_point()
    )


@cpu_only
def test_auto_precision_run_records_what_auto_became(cancer_data: TrainingData, tmp_path: Path) -> None:
    loaded = example_config("trainer.precision=auto", "trainer.max_epochs=1", "model.hidden=[8]")
    result = train_model(loaded, cancer_data, tmp_path)
    assert (result.precision.requested, result.precision.used) == ("auto", "32-true")


def test_a_non_finite_loss_stops_the_run_with_the_step_and_a_hint(diabetes_data: TrainingData, tmp_path: Path) -> None:
    loaded = example_config(
        "data=generated",
        "model.task=regression",
        "trainer.objective=mse",
        "trainer.early_stopping=null",
        "trainer.checkpointing.metric=loss",
        "trainer.optimizer.name=sgd",
        "trainer.optimizer.lr=1e20",
        "trainer.max_epochs=2",
        "model.hidden=[16]",
    )
    with pytest.raises(TrainingError) as error:
        train_model(loaded, diabetes_data, tmp_path)
    message = str(error.value)
    assert "training stopped: the loss became NaN or infinite at step" in message
    assert "(epoch 0, batch" in message
    assert "with precision '32-true'; try a lower trainer.optimizer.lr" in message


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "64-true"])
@pytest.mark.parametrize("pruning", ["gradual", "neurons"])
def test_pruning_under_each_cpu_precision(
    precision: str, pruning: str, cancer_data: TrainingData, tmp_path: Path
) -> None:
    loaded = example_config(
        f"trainer.precision={precision}",
        f"pruning={pruning}",
        "trainer.max_epochs=4",
        "model.hidden=[32,16]",
        "pruning.start_epoch=0",
        "pruning.end_epoch=2",
        "pruning.fine_tune_epochs=1",
        "pruning.final_sparsity=0.5",
        "trainer.optimizer.lr=0.01",
    )
    result = train_model(loaded, cancer_data, tmp_path)
    assert result.pruning_report is not None
    package = load_package(tmp_path / "model")
    assert package.spec["precision_used"] == precision
    if pruning == "neurons":
        assert package.architecture["hidden"] == [16, 8]
    else:
        weights = [tensor for name, tensor in package.network.state_dict().items() if name.endswith(".weight")]
        zeros = sum(int((tensor == 0).sum()) for tensor in weights) / sum(tensor.numel() for tensor in weights)
        assert zeros == pytest.approx(0.5, abs=0.01)
    assert result.metrics["test"]["accuracy"] > 0.7
