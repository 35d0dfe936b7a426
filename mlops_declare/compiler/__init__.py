"""Pure compilation: validated config -> Plan -> {relative path: text} of every generated file."""

from __future__ import annotations

from mlops_declare.compiler.airflow import render_dags
from mlops_declare.compiler.bentoml import render_service_project
from mlops_declare.compiler.checks import cross_group_problems
from mlops_declare.compiler.plan import Plan, compile_plan
from mlops_declare.config import LoadedConfig
from mlops_declare.config.schema import SCHEMA_DIR, render_schemas
from mlops_declare.contracts.plan import PLAN_FILE


def render_outputs(plan: Plan, source: str) -> dict[str, str]:
    """Every generated file, keyed by path relative to the project root; the renderers read only the plan."""
    files = {PLAN_FILE: plan.to_json()}
    files.update(render_dags(plan, source))
    files.update(render_service_project(plan, source))
    files.update({f"{SCHEMA_DIR}/{name}": text for name, text in render_schemas().items()})
    return dict(sorted(files.items()))


def compile_outputs(loaded: LoadedConfig, source: str = "conf") -> tuple[Plan, dict[str, str]]:
    """The plan of the whole step catalogue and every file it renders to."""
    plan = compile_plan(loaded)
    return plan, render_outputs(plan, source)


__all__ = ["PLAN_FILE", "Plan", "compile_outputs", "compile_plan", "cross_group_problems", "render_outputs"]
