"""Steps that belong to no runtime package: recording what configuration a run used."""

from __future__ import annotations

from typing import Any

from mlops_declare.atomic import write_json_atomic
from mlops_declare.steps import StepContext


def snapshot_config(context: StepContext) -> dict[str, Any]:
    """Record the validated config (secrets as `${oc.env:VAR}` references) in the run directory."""
    path = context.run_dir / "config.json"
    write_json_atomic(path, context.loaded.snapshot)
    return {
        "config_path": context.relative(path),
        "fingerprint": context.loaded.fingerprint,
        "choices": context.loaded.choices,
        "logical_date": context.logical_date,
        "logical_date_source": context.logical_date_source,
        "trigger": dict(context.trigger) if context.trigger else None,
    }
