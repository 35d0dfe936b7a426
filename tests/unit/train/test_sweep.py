"""Sweep expansion (Hydra's BasicSweeper order) and ranking by the configured objective."""

from __future__ import annotations

import pytest

from mlops_declare.errors import ConfigError
from mlops_declare.train.sweep import expand_sweep, rank_runs, render_sweep_table, sweep_changes


def test_every_combination_in_hydra_order() -> None:
    overrides = ["model.hidden=[16],[32]", "trainer.precision=32-true,bf16-mixed", "trainer.max_epochs=3"]
    combinations = expand_sweep(overrides)
    assert combinations == [
        ["model.hidden=[16]", "trainer.precision=32-true", "trainer.max_epochs=3"],
        ["model.hidden=[16]", "trainer.precision=bf16-mixed", "trainer.max_epochs=3"],
        ["model.hidden=[32]", "trainer.precision=32-true", "trainer.max_epochs=3"],
        ["model.hidden=[32]", "trainer.precision=bf16-mixed", "trainer.max_epochs=3"],
    ]
    assert sweep_changes(combinations[1], overrides) == ["model.hidden=[16]", "trainer.precision=bf16-mixed"]


def test_ranges_and_group_sweeps_expand() -> None:
    assert expand_sweep(["trainer.seed=range(1,4)", "pruning=none,gradual"]) == [
        ["trainer.seed=1", "pruning=none"],
        ["trainer.seed=1", "pruning=gradual"],
        ["trainer.seed=2", "pruning=none"],
        ["trainer.seed=2", "pruning=gradual"],
        ["trainer.seed=3", "pruning=none"],
        ["trainer.seed=3", "pruning=gradual"],
    ]


def test_bad_override_syntax_names_the_override() -> None:
    with pytest.raises(ConfigError, match=r"command line: trainer.max_epochs=\[1: bad override syntax"):
        expand_sweep(["trainer.max_epochs=[1"])


def runs() -> list[dict[str, object]]:
    return [
        {"overrides": ["a=1"], "metrics": {"val": {"accuracy": 0.90, "loss": 0.30}}, "package_dir": "r1"},
        {"overrides": ["a=2"], "error": "boom"},
        {"overrides": ["a=3"], "metrics": {"val": {"accuracy": 0.95, "loss": 0.35}}, "package_dir": "r3"},
    ]


def test_ranking_follows_the_metric_direction() -> None:
    assert [row["overrides"] for row in rank_runs(runs(), "accuracy")] == [["a=3"], ["a=1"], ["a=2"]]
    assert [row["overrides"] for row in rank_runs(runs(), "loss")] == [["a=1"], ["a=3"], ["a=2"]]


def test_table_lists_best_first_and_failures_last() -> None:
    lines = render_sweep_table(runs(), "accuracy").splitlines()
    assert lines[0] == "sweep ranked by val accuracy (higher is better)"
    assert "0.9500  a=3  -> r3" in lines[2]
    assert "failed  a=2  -> boom" in lines[4]
