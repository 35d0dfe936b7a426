"""A new user's first hour: `init`, their own CSV, `train`. Each test is one defect a newcomer hit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*arguments: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_declare", *arguments],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def new_project_with_csv(tmp_path: Path, classes: int) -> Path:
    """`mlops-declare init shop`, then the user's own CSV as the `orders` data group."""
    assert cli("init", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    lines = ["basket,visits,segment"] + [f"{i * 0.37 % 11:.2f},{i % 13},{i % classes}" for i in range(240)]
    (project / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (project / "conf" / "data" / "orders.yaml").write_text(
        "name: orders\nsource: {kind: csv, path: orders.csv}\ncolumns: {target: segment}\n", encoding="utf-8"
    )
    return project


def test_init_names_the_project_after_its_folder(tmp_path: Path) -> None:
    result = cli("init", "shop", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "project 'shop'" in result.stdout
    validated = cli("validate", "--print", cwd=tmp_path / "shop")
    assert json.loads(validated.stdout)["project"]["name"] == "shop"


def test_model_name_follows_the_data_group_unless_set(tmp_path: Path) -> None:
    project = new_project_with_csv(tmp_path, classes=2)
    derived = json.loads(cli("validate", "--print", "data=orders", cwd=project).stdout)
    assert derived["model"]["name"] == "orders"
    chosen = json.loads(cli("validate", "--print", "data=orders", "model.name=churn", cwd=project).stdout)
    assert chosen["model"]["name"] == "churn"


def test_three_classes_with_a_binary_task_stop_with_one_line_naming_the_fix(tmp_path: Path) -> None:
    project = new_project_with_csv(tmp_path, classes=3)
    result = cli("train", "data=orders", "trainer.max_epochs=1", "trainer.progress_bar=false", cwd=project)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "torchmetrics" not in result.stderr
    error = result.stderr.strip().splitlines()[0]
    assert error == (
        "error: model.task is 'binary' but target 'segment' has 3 classes (0, 1, 2); "
        "set model.task=multiclass (or keep two classes in a transform)"
    )


@pytest.mark.slow
def test_train_output_is_about_the_run_unless_verbose(tmp_path: Path) -> None:
    project = new_project_with_csv(tmp_path, classes=3)
    arguments = ("train", "data=orders", "model.task=multiclass", "trainer.max_epochs=1", "trainer.progress_bar=false")
    quiet = cli(*arguments, cwd=project)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    noise = ("GPU available", "TPU available", "litlogger", "LeafSpec", "Trainer.fit")
    output = quiet.stdout + quiet.stderr
    assert not [line for line in output.splitlines() if any(word in line for word in noise)], output
    assert "model package:" in quiet.stdout
    verbose = cli(*arguments, "--verbose", cwd=project)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "GPU available" in verbose.stdout + verbose.stderr
