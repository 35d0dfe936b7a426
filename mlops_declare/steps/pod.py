"""Entry point of a step running in a Kubernetes pod (`orchestration.task_runner: kubernetes`).

`python -m mlops_declare.steps.pod <step> --run-id ... --upstream '<json>'` runs one step of the
project baked into the image (`MLOPS_DECLARE_PROJECT_ROOT`, default the working directory) with
the producers' results the KubernetesPodOperator templated in from XCom, and writes its result to
`/airflow/xcom/return.json`, which the pod's XCom sidecar pushes back to Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

XCOM_RETURN = Path("/airflow/xcom/return.json")


def main(argv: list[str] | None = None) -> int:
    """Run the step named on the command line and write its result where the XCom sidecar reads it."""
    from mlops_declare.atomic import write_json_atomic
    from mlops_declare.config import load_config
    from mlops_declare.steps import run_step

    parser = argparse.ArgumentParser(prog="mlops_declare.steps.pod", description=__doc__)
    parser.add_argument("step")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--run-type", default="")
    parser.add_argument("--logical-date", default="")
    parser.add_argument("--upstream", default="{}")
    parser.add_argument("--trigger", default="{}")
    arguments = parser.parse_args(argv)
    root = Path(os.environ.get("MLOPS_DECLARE_PROJECT_ROOT", ".")).resolve()
    loaded = load_config(root / "conf")
    # The same shape as `mlops_declare.steps.airflow.trigger_of` gives tasks run by Airflow workers.
    conf = json.loads(arguments.trigger) or {}
    run_type = arguments.run_type or None
    trigger: dict[str, object] | None = None
    if run_type == "backfill":
        trigger = {"kind": "backfill", "run_type": run_type, "extra": conf}
    elif conf:
        trigger = {"kind": "dag_run_conf", "extra": conf, "run_type": run_type}
    import datetime

    logical_date = arguments.logical_date or datetime.datetime.now(datetime.UTC).date().isoformat()
    result = run_step(
        arguments.step,
        loaded,
        root,
        arguments.run_id,
        logical_date,
        json.loads(arguments.upstream),
        trigger,
        "given" if arguments.logical_date else "now",
    )
    write_json_atomic(XCOM_RETURN, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
