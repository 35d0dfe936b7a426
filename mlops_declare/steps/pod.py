"""Entry point of a step running in a Kubernetes pod (`orchestration.task_runner: kubernetes`).

`python -m mlops_declare.steps.pod <step> --dag DAG_ID --plan-fingerprint FP --context '<json>' --upstream '<json>'`
runs one step of the compiled plan baked into the image (plan.json in `MLOPS_DECLARE_PROJECT_ROOT`,
default the working directory; no `conf/` is read), in the run the Airflow side named: `--context`
is the RunContext (run folder, logical date, trigger with the Asset event's extra) that the DAG's
template macro rendered, `--upstream` the producers' results templated in from XCom. The result is
written to `/airflow/xcom/return.json` (or `--xcom-file`), which the pod's XCom sidecar pushes back.
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
    from mlops_declare.contracts.environment import PROJECT_ROOT
    from mlops_declare.contracts.seams import RunContext
    from mlops_declare.steps import run_step, validated_result
    from mlops_declare.steps.core import task_context

    parser = argparse.ArgumentParser(prog="mlops_declare.steps.pod", description=__doc__)
    parser.add_argument("step")
    parser.add_argument("--dag", required=True, help="the DAG id the task belongs to")
    parser.add_argument("--plan-fingerprint", required=True, help="the DAG file's PLAN_FINGERPRINT")
    parser.add_argument("--context", required=True, help="the run's RunContext as JSON")
    parser.add_argument("--upstream", default="{}", help="producer step -> its result, as JSON")
    parser.add_argument("--xcom-file", default=str(XCOM_RETURN))
    arguments = parser.parse_args(argv)
    root = Path(os.environ.get(PROJECT_ROOT) or ".").resolve()
    run = RunContext.model_validate_json(arguments.context)
    upstream = {name: validated_result(name, value) for name, value in json.loads(arguments.upstream).items()}
    context = task_context(
        root, arguments.dag, arguments.plan_fingerprint, f"the pod of DAG {arguments.dag}", run, arguments.step
    )
    result = run_step(arguments.step, context, upstream)
    write_json_atomic(Path(arguments.xcom_file), result.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
