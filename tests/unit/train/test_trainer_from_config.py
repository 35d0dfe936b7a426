"""Every trainer key reaches Lightning: clipping, accumulation, schedules, callbacks, logging, checkpoints."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from mlops_declare.errors import TrainingError
from mlops_declare.train.checks import check_monitored_metrics, check_schedule_fits, preflight
from mlops_declare.train.data import TrainingData
from mlops_declare.train.fit import allowed_callbacks, build_logger, build_trainer, train_model
from mlops_declare.train.precision import resolve_precision
from tests.unit.train.conftest import example_config


def trainer_for(*overrides: str, data: TrainingData, directory: Path) -> object:
    trainer = example_config(*overrides).config.trainer
    return build_trainer(trainer, resolve_precision(trainer), directory, data, 64, None, False)


def test_trainer_keys_reach_lightning(cancer_data: TrainingData, tmp_path: Path) -> None:
    trainer = trainer_for(
        "trainer.gradient_clip_val=0.5",
        "trainer.accumulate_grad_batches=3",
        "trainer.max_epochs=7",
        "trainer.deterministic=true",
        "trainer.progress_bar=false",
        data=cancer_data,
        directory=tmp_path,
    )
    assert trainer.gradient_clip_val == 0.5  # type: ignore[attr-defined]
    assert trainer.accumulate_grad_batches == 3  # type: ignore[attr-defined]
    assert trainer.max_epochs == 7  # type: ignore[attr-defined]
    assert trainer.progress_bar_callback is None  # type: ignore[attr-defined]
    names = [type(callback).__name__ for callback in trainer.callbacks]  # type: ignore[attr-defined]
    assert "EarlyStopping" in names and "ModelCheckpoint" in names


def test_device_indices_on_the_cpu_count_processes(cancer_data: TrainingData, tmp_path: Path) -> None:
    trainer = trainer_for("trainer.devices=[0]", data=cancer_data, directory=tmp_path)
    assert trainer.num_devices == 1  # type: ignore[attr-defined]


def test_allowed_callbacks_are_built_and_bad_params_named() -> None:
    built = allowed_callbacks(
        example_config(
            "+trainer.callbacks=[{name: learning_rate_monitor, params: {logging_interval: epoch}}]"
        ).config.trainer
    )
    assert type(built[0]).__name__ == "LearningRateMonitor"
    bad = example_config("+trainer.callbacks=[{name: timer, params: {nonsense: 1}}]").config.trainer
    with pytest.raises(TrainingError, match=r"trainer.callbacks.0.params: 'timer' rejected them"):
        allowed_callbacks(bad)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="checks the missing-package message")
def test_tensorboard_without_the_package_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"install it with `pip install tensorboard`"):
        build_logger(example_config("trainer.logger=tensorboard").config.trainer, tmp_path)


def test_a_pruning_schedule_longer_than_training_is_refused() -> None:
    loaded = example_config("pruning=gradual", "trainer.max_epochs=5")
    with pytest.raises(
        TrainingError, match=r"trainer.max_epochs \(5\) is shorter than the pruning schedule: .* = 14 epochs"
    ):
        preflight(loaded)
    assert preflight(loaded, fast_dev_run=True).used == "32-true"  # a fast_dev_run only checks the wiring


def test_watched_metrics_must_be_computed() -> None:
    trainer = example_config("trainer.metrics=[accuracy]", "trainer.early_stopping.metric=auroc").config.trainer
    with pytest.raises(
        TrainingError,
        match=r"trainer.early_stopping.metric: 'auroc' is not computed by this run; computed: accuracy, loss",
    ):
        check_monitored_metrics(trainer, ["accuracy", "loss"])
    check_schedule_fits(example_config().config.trainer, example_config("pruning=gradual").config.pruning)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "schedule",
    [
        ("trainer.lr_scheduler.name=cosine", "trainer.lr_scheduler.warmup_epochs=1"),
        ("trainer.lr_scheduler.name=step", "trainer.lr_scheduler.step_size=1", "trainer.lr_scheduler.gamma=0.5"),
        ("trainer.lr_scheduler.name=onecycle",),
        ("trainer.optimizer.name=sgd", "trainer.optimizer.lr=0.05"),
    ],
)
def test_schedules_and_optimizers_train_and_log_the_learning_rate(
    schedule: tuple[str, ...], cancer_data: TrainingData, tmp_path: Path
) -> None:
    loaded = example_config(
        *schedule,
        "trainer.max_epochs=3",
        "model.hidden=[8]",
        "trainer.early_stopping=null",
        "+trainer.callbacks=[{name: learning_rate_monitor, params: {logging_interval: step}}]",
    )
    result = train_model(loaded, cancer_data, tmp_path)
    assert result.log_dir is not None
    rows = list(csv.DictReader(open(result.log_dir / "metrics.csv", encoding="utf-8")))
    learning_rates = {float(row[key]) for row in rows for key in row if key.startswith("lr-") and row[key]}
    if schedule[0].endswith(("cosine", "step", "onecycle")):
        assert len(learning_rates) > 1  # the schedule really changes the rate
    else:
        assert learning_rates == {0.05}


def test_best_k_checkpoints_are_kept(cancer_data: TrainingData, tmp_path: Path) -> None:
    loaded = example_config(
        "trainer.max_epochs=4",
        "model.hidden=[8]",
        "trainer.early_stopping=null",
        "trainer.checkpointing.save_top_k=2",
        "trainer.checkpointing.metric=accuracy",
    )
    result = train_model(loaded, cancer_data, tmp_path)
    assert len(list((tmp_path / "checkpoints").glob("*.ckpt"))) == 2
    assert result.weights_from.startswith("best checkpoint (epoch")
    assert "accuracy" in result.weights_from


def test_regression_reports_regression_metrics(diabetes_data: TrainingData, tmp_path: Path) -> None:
    loaded = example_config(
        "model.task=regression",
        "trainer.objective=r2",
        "trainer.early_stopping=null",
        "trainer.checkpointing.metric=mse",
        "trainer.max_epochs=8",
        "trainer.optimizer.lr=0.01",
    )
    result = train_model(loaded, diabetes_data, tmp_path)
    assert set(result.metrics["test"]) == {"mse", "mae", "r2", "loss"}
    assert result.metrics["test"]["r2"] > 0.2


@pytest.mark.slow
def test_compile_switch_compiles_the_network_and_still_prunes(cancer_data: TrainingData, tmp_path: Path) -> None:
    import torch._dynamo

    torch._dynamo.reset()
    loaded = example_config(
        "trainer.compile=true",
        "trainer.max_epochs=2",
        "model.hidden=[16]",
        "pruning=gradual",
        "pruning.start_epoch=0",
        "pruning.end_epoch=1",
        "pruning.fine_tune_epochs=0",
    )
    result = train_model(loaded, cancer_data, tmp_path)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    assert result.pruning_report is not None
    assert (
        result.pruning_report["after"]["nonzero_parameters"]
        < 0.3 * result.pruning_report["before"]["nonzero_parameters"]
    )


def test_same_seed_same_weights_other_seed_other_weights(cancer_data: TrainingData, tmp_path: Path) -> None:
    from mlops_declare.train.package import load_package

    def weights(seed: int, name: str) -> dict[str, object]:
        loaded = example_config(
            f"trainer.seed={seed}", "trainer.deterministic=true", "trainer.max_epochs=2", "model.hidden=[8]"
        )
        result = train_model(loaded, cancer_data, tmp_path / name)
        assert result.package_dir is not None
        return load_package(result.package_dir).network.state_dict()

    first, again, other = weights(1, "a"), weights(1, "b"), weights(2, "c")
    assert all(first[key].equal(again[key]) for key in first)  # type: ignore[attr-defined]
    assert not all(first[key].equal(other[key]) for key in first)  # type: ignore[attr-defined]
