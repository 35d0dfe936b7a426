"""The entry point of generated Airflow tasks: the run's plan found from deployment config, results in and
out through XCom (validated against their models), the run's logical date and trigger taken from what
Airflow 3 gives every run, Asset events filled from the step's result.

Imported only inside task callables (and, for pod DAGs, as the template macro that hands a pod its
run context), so a DAG file parses with the Airflow SDK alone.

The trigger a step receives (`StepContext.trigger`) is a `mlops_declare.contracts.seams.Trigger`
wherever the step runs: an Asset event (its `extra` is the retrain Asset's RetrainRequest), a run's
conf, a backfill, or `mlops-declare run --trigger-file`. A step reads its inputs from
`trigger.extra` (e.g. the monitoring DAG's `collect_window` takes `extra["current"]`, a file to
check instead of the inference log); None when nothing started the run.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from mlops_declare.contracts.layouts import run_folder_name
from mlops_declare.contracts.seams import LogicalDateSource, RunContext, Trigger
from mlops_declare.steps import StepError, gate_closed, run_step, validated_result

BACKFILL_RUN_TYPE = "backfill"
"""Airflow's run type of the runs `airflow backfill create` makes."""

RESULT_KEY = "result"
"""XCom key under which every task pushes its step result (downstream tasks pull it by task id)."""


def logical_date_of(context: Mapping[str, Any]) -> tuple[str, LogicalDateSource]:
    """(YYYY-MM-DD, source) of a DAG run.

    Scheduled and manual runs have a `logical_date`; Airflow 3 gives Asset-triggered runs none, so
    those take the triggering event's timestamp, and anything else the run's `run_after`.
    """
    logical = context.get("logical_date")
    if logical is not None:
        return _day(logical), "logical_date"
    for event in _asset_events(context):
        timestamp = getattr(event, "timestamp", None)
        if timestamp is not None:
            return _day(timestamp), "asset_event"
    dag_run = context.get("dag_run")
    for attribute in ("run_after", "start_date"):
        value = getattr(dag_run, attribute, None)
        if value is not None:
            return _day(value), "run_after" if attribute == "run_after" else "start_date"
    return datetime.datetime.now(datetime.UTC).date().isoformat(), "now"


def run_type_of(context: Mapping[str, Any]) -> str | None:
    """The DAG run's type as Airflow names it (`scheduled`, `manual`, `backfill`, `asset_triggered`), if known."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    if run_type is None:
        return None
    return str(getattr(run_type, "value", run_type))


def trigger_of(context: Mapping[str, Any]) -> Trigger | None:
    """What started the run: the first triggering Asset event (URI, timestamp, extra), a manual run's conf, or a backfill.

    A backfill is always reported (with `run_type`), so that `promote` can refuse to move a
    single-holder stage from it unless `orchestration.backfill_moves_stages` allows it.
    """
    run_type = run_type_of(context)
    if run_type == BACKFILL_RUN_TYPE:
        conf = getattr(context.get("dag_run"), "conf", None)
        return Trigger(kind="backfill", run_type=run_type, extra=dict(conf or {}))
    for event in _asset_events(context):
        asset = getattr(event, "asset", None)
        timestamp = getattr(event, "timestamp", None)
        return Trigger(
            kind="asset_event",
            asset=getattr(asset, "uri", None),
            timestamp=timestamp.isoformat() if timestamp is not None else None,
            extra=dict(getattr(event, "extra", None) or {}),
            run_type=run_type,
        )
    conf = getattr(context.get("dag_run"), "conf", None)
    if conf:
        return Trigger(kind="dag_run_conf", extra=dict(conf), run_type=run_type)
    return None


def run_context_of(project: str, role: str, context: Mapping[str, Any]) -> RunContext:
    """The run's folder name, logical date and trigger, as every task (and pod) of the DAG run sees them.

    The run folder is named as a local run's is (`<project>_<dag role>_<logical date>_<8 hex>`), the
    suffix a digest of Airflow's run id, so every task of one DAG run meets in one folder.
    """
    logical_date, source = logical_date_of(context)
    engine_run_id = str(context["run_id"])
    suffix = hashlib.sha256(engine_run_id.encode("utf-8")).hexdigest()[:8]
    return RunContext(
        run_id=run_folder_name(project, role, logical_date, suffix),
        engine_run_id=engine_run_id,
        logical_date=logical_date,
        logical_date_source=source,
        trigger=trigger_of(context),
    )


def pod_run_context(template_context: Any, project: str, role: str) -> str:
    """Template macro of pod DAGs: the RunContext as JSON, rendered into a pod's `--context` argument."""
    return json.dumps(run_context_of(project, role, template_context).model_dump(mode="json"), sort_keys=True)


def run_task(task: Mapping[str, Any], upstream: tuple[str, ...], context: Mapping[str, Any]) -> dict[str, Any]:
    """Run one task of a generated DAG: find the project and the run's plan, pull the producers' results from
    XCom, run the step, push its result, fill the task's Asset events.

    `task` is what the DAG file declares about itself: `project`, `dag_id`, `role`, `plan_fingerprint`,
    `step` and `dag_file`.
    """
    from mlops_declare.steps.core import locate_project, task_context

    name = str(task["step"])
    task_instance = context["ti"]
    results: dict[str, Any] = {}
    for producer in upstream:
        value = task_instance.xcom_pull(task_ids=producer, key=RESULT_KEY)
        if value is None:
            raise StepError(
                f"task {name!r}: no result from upstream task {producer!r} in this DAG run (XCom key {RESULT_KEY!r})"
            )
        results[producer] = validated_result(producer, value)
    run = run_context_of(str(task["project"]), str(task["role"]), context)
    root = locate_project(str(task["project"]), task.get("dag_file"), _airflow_variables(str(task["project"])))
    step_context = task_context(
        root, str(task["dag_id"]), str(task["plan_fingerprint"]), str(task["dag_file"]), run, name
    )
    result = run_step(name, step_context, results)
    payload = result.to_json()
    # The task log shows what the step did (e.g. the registered version and its metrics), not only the
    # operator's "Returned value was: None".
    logging.getLogger("mlops_declare.steps").info(
        "step %s result: %s", name, json.dumps(payload, sort_keys=True, ensure_ascii=False)[:8000]
    )
    task_instance.xcom_push(key=RESULT_KEY, value=payload)
    _fill_outlet_events(context, payload)
    return payload


def gate_open(name: str, result: Mapping[str, Any]) -> bool:
    """For a short-circuit task: whether the gate step's result lets the later tasks run."""
    return not gate_closed(name, validated_result(name, result))


def _airflow_variables(project: str) -> dict[str, str | None]:
    """The Airflow Variable naming the project's folder, when Airflow's Variable store is reachable."""
    from mlops_declare.contracts.environment import project_root_variable

    key = project_root_variable(project).lower()
    try:
        from airflow.sdk import Variable

        return {key: Variable.get(key, default=None)}
    except Exception:  # noqa: BLE001 - no Airflow or no Variable store in this process: the environment decides
        return {}


def _fill_outlet_events(context: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """The step's `event` entry becomes the extra of every Asset event the task emits."""
    outlets = getattr(context.get("task"), "outlets", None) or []
    events = context.get("outlet_events")
    if not outlets or events is None:
        return
    extra = result.get("event") or {}
    for outlet in outlets:
        events[outlet].extra = dict(extra)


def _asset_events(context: Mapping[str, Any]) -> list[Any]:
    triggering = context.get("triggering_asset_events")
    if not triggering:
        return []
    events: list[Any] = []
    for _asset, asset_events in triggering.items():
        events.extend(asset_events)
    return sorted(events, key=lambda event: str(getattr(event, "timestamp", "")))


def _day(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return datetime.datetime.fromisoformat(str(value)).date().isoformat()


def notify_failure(task: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any] | None:
    """`on_failure_callback` of generated tasks: POST a JSON message to `orchestration.notifications.failure_webhook`.

    The URL is resolved from the project's plan now (its `${oc.env:VAR}` reference read from this
    process's environment), so it never appears in a generated file. A webhook that fails is
    logged and reported, never raised: the task has already failed.
    """
    from mlops_declare.config import load_snapshot
    from mlops_declare.contracts.plan import PLAN_FILE, read_plan
    from mlops_declare.steps.core import locate_project
    from mlops_declare.webhook import post_json

    root = locate_project(str(task["project"]), task.get("dag_file"), _airflow_variables(str(task["project"])))
    notifications = load_snapshot(read_plan(root / PLAN_FILE).config).config.orchestration.notifications
    if not notifications.failure_webhook:
        return None
    task_instance = context.get("ti")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    payload = {
        "event": "task_failed",
        "dag_id": getattr(task_instance, "dag_id", None),
        "task_id": getattr(task_instance, "task_id", None),
        "run_id": context.get("run_id"),
        "run_type": run_type_of(context),
        "try_number": getattr(task_instance, "try_number", None),
        "error": f"{type(exception).__name__}: {exception}" if exception is not None else None,
        "logical_date": str(getattr(dag_run, "logical_date", None) or ""),
    }
    return post_json(notifications.failure_webhook, payload, notifications.timeout_s, purpose="failure webhook")
