"""A backfill run never moves a single-holder stage unless `orchestration.backfill_moves_stages` allows it:
the run type Airflow gives the task reaches `promote` through the run's trigger."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mlops_declare.config import load_config
from mlops_declare.contracts.seams import Trigger
from mlops_declare.steps import StepContext
from mlops_declare.steps.airflow import trigger_of
from mlops_declare.steps.registry import _stages_a_backfill_may_not_move
from tests.runner import context_for


def _context(project: Path, trigger: Trigger | None, *overrides: str) -> StepContext:
    loaded = load_config(project / "conf", list(overrides))
    return context_for(loaded, project, "run", "2026-01-01", trigger.model_dump() if trigger else None)


def test_backfill_runs_hold_single_holder_stages(project: Path) -> None:
    backfill = trigger_of({"dag_run": SimpleNamespace(run_type="backfill", conf={"from": "2026-01-01"})})
    assert backfill == Trigger(kind="backfill", run_type="backfill", extra={"from": "2026-01-01"})
    held = _stages_a_backfill_may_not_move(_context(project, backfill))
    assert sorted(held) == ["production", "staging"]
    assert "backfill_moves_stages" in held["staging"]
    assert (
        _stages_a_backfill_may_not_move(_context(project, backfill, "orchestration.backfill_moves_stages=true")) == {}
    )
    scheduled = trigger_of({"dag_run": SimpleNamespace(run_type="scheduled", conf={})})
    assert scheduled is None
    assert _stages_a_backfill_may_not_move(_context(project, scheduled)) == {}
