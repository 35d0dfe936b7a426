"""`mlops-declare train` as a user runs it: real processes, the real data pipeline, packages on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlops_declare.cli import main
from mlops_declare.data import Preprocessor
from mlops_declare.train.package import load_package


def cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_declare", *arguments],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def steps_of(project: Path) -> dict[str, dict[str, object]]:
    (run_dir,) = (project / ".mlops" / "runs").iterdir()
    return {path.stem: json.loads(path.read_text()) for path in (run_dir / "steps").glob("*.json")}


def test_done_when_digits_cnn_bf16_with_gradual_pruning(project: Path) -> None:
    """The issue's check: trains on the CPU, prints metrics and a pruning report, writes a package that
    loads without pickle and predicts identically."""
    result = cli(
        "train",
        "experiment=digits_cnn",
        "trainer.precision=bf16-mixed",
        "pruning=gradual",
        "trainer.progress_bar=false",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "precision: bf16-mixed (requested bf16-mixed, cpu" in out
    assert "  accuracy " in out and "  auroc " in out
    assert "pruning: l1_unstructured (global, cubic) to 80%" in out
    assert "nonzero parameters" in out and "CPU ms/batch 1024" in out
    package_dir = Path(out.strip().splitlines()[-1].removeprefix("model package: "))
    assert package_dir == project / ".mlops" / "runs" / package_dir.parent.name / "model"

    package = load_package(package_dir)
    assert package.spec["precision_used"] == "bf16-mixed"
    assert package.spec["class_names"] == [str(digit) for digit in range(10)]
    report = json.loads((package_dir / "pruning_report.json").read_text())
    overall = sum(row["sparsity"] * np.prod(row["shape"]) for row in report["layers"]) / sum(
        np.prod(row["shape"]) for row in report["layers"]
    )
    assert overall == pytest.approx(0.8, abs=0.01)

    # Serving's path: raw rows -> the packaged preprocessing -> the packaged network.
    ingest = steps_of(project)["ingest"]
    test_split = pq.read_table(project / str(ingest["dataset_dir"]) / "test.parquet")
    preprocessor = Preprocessor.load(package.preprocessing_path)
    features = preprocessor.transform_table(test_split)
    probabilities = package.predict(features)
    assert np.array_equal(probabilities, load_package(package_dir).predict(features))
    accuracy = float((probabilities.argmax(axis=1) == preprocessor.target_array(test_split)).mean())
    metrics = json.loads((package_dir / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert accuracy > 0.85
    config = json.loads((package_dir / "config.json").read_text())
    assert config["pruning"]["final_sparsity"] == 0.8 and config["trainer"]["precision"] == "bf16-mixed"


def test_train_help_names_the_sweep_switch(tmp_path: Path) -> None:
    result = cli("train", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert (
        "mlops-declare train" in result.stdout and "--multirun" in result.stdout and "--fast-dev-run" in result.stdout
    )


def test_rejected_precision_exits_with_the_message(project: Path) -> None:
    result = cli("train", "trainer.precision=16-mixed", cwd=project)
    assert result.returncode == 2
    assert (
        "trainer.precision: '16-mixed' needs a CUDA GPU; this run has only CPU (use 32-true or bf16-mixed)"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_neurons_pruning_exports_a_smaller_mlp(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chdir(project)
    code = main(
        ["train", "pruning=neurons", "trainer.max_epochs=12", "trainer.progress_bar=false", "model.hidden=[64,32]"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "hidden units: [64, 32] -> [32, 16]" in out
    trained = steps_of(project)["train"]
    package = load_package(project / str(trained["package_dir"]))  # results name files relative to the project
    assert package.architecture["hidden"] == [32, 16]
    pruning = trained["pruning"]
    assert isinstance(pruning, dict)
    assert pruning["size_ratio"] < 0.6
    assert pruning["after"]["parameters"] < 0.6 * pruning["before"]["parameters"]


def test_sweep_runs_each_combination_and_ranks_them(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chdir(project)
    code = main(
        [
            "train",
            "-m",
            "model.hidden=[4],[32]",
            "trainer.optimizer.lr=0.0001,0.01",
            "trainer.max_epochs=2",
            "trainer.progress_bar=false",
            "--run-id",
            "sweep1",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    table = out[out.index("sweep ranked by val accuracy (higher is better)") :].splitlines()[2:]
    assert len(table) == 4
    values = [float(line.split()[1]) for line in table]
    assert values == sorted(values, reverse=True)
    runs = sorted(path.name for path in (project / ".mlops" / "runs").iterdir())
    assert runs == ["sweep1_000", "sweep1_001", "sweep1_002", "sweep1_003"]
    for name in runs:
        spec = json.loads((project / ".mlops" / "runs" / name / "model" / "model_spec.json").read_text())
        assert spec["architecture"]["hidden"] in ([4], [32])


def test_a_sweep_without_multirun_is_refused(project: Path) -> None:
    result = cli("train", "model.hidden=[4],[32]", cwd=project)
    assert result.returncode == 2
    assert "a sweep (a,b or range) needs multirun: pass -m" in result.stderr


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_with_pruning(project: Path) -> None:
    result = cli(
        "train",
        "--verbose",
        "trainer=ddp_cpu",
        "trainer.max_epochs=3",
        "trainer.progress_bar=false",
        "pruning=gradual",
        "pruning.start_epoch=0",
        "pruning.end_epoch=1",
        "pruning.fine_tune_epochs=1",
        cwd=project,
    )  # --verbose: Lightning's own lines show that DDP really ran
    assert result.returncode == 0, result.stderr[-3000:]
    assert "strategy=ddp" in result.stderr or "distributed_backend=gloo" in result.stderr
    assert result.stdout.count("model package: ") == 1  # only rank 0 reports and exports
    trained = steps_of(project)["train"]
    package = load_package(project / str(trained["package_dir"]))  # results name files relative to the project
    assert package.spec["precision_used"] == "32-true"
    assert trained["pruning"]["after"]["nonzero_parameters"] < 0.3 * trained["pruning"]["before"]["nonzero_parameters"]


@pytest.mark.slow
def test_ddp_spawn_on_two_cpu_processes(project: Path) -> None:
    result = cli(
        "train",
        "trainer=ddp_cpu",
        "trainer.strategy=ddp_spawn",
        "trainer.max_epochs=2",
        "trainer.progress_bar=false",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trained = steps_of(project)["train"]
    assert load_package(project / str(trained["package_dir"])).spec["weights_from"].startswith("best checkpoint")
    assert set(trained["metrics"]["test"]) == {"accuracy", "f1", "auroc", "precision", "recall", "loss"}  # type: ignore[index]


def test_pruning_with_ddp_spawn_is_refused_before_any_work(project: Path) -> None:
    result = cli(
        "train",
        "trainer=ddp_cpu",
        "trainer.strategy=ddp_spawn",
        "pruning=gradual",
        "trainer.max_epochs=14",
        cwd=project,
    )
    assert result.returncode == 2
    assert "pruning with trainer.strategy 'ddp_spawn' is not supported; use strategy 'ddp'" in result.stderr
    assert not (project / ".mlops" / "runs").exists()


@pytest.mark.slow
def test_a_worker_nan_reaches_the_user_as_the_same_message(project: Path) -> None:
    result = cli(
        "train",
        "trainer=ddp_cpu",
        "trainer.strategy=ddp_spawn",
        "trainer.optimizer.name=sgd",
        "trainer.optimizer.lr=1e30",
        "trainer.max_epochs=2",
        "trainer.progress_bar=false",
        cwd=project,
    )
    assert result.returncode == 2
    assert "error: training stopped: the loss became NaN or infinite at step " in result.stderr
    assert "try a lower trainer.optimizer.lr" in result.stderr
