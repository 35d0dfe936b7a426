"""The entry point of generated Airflow tasks: results in and out through XCom, the run's logical date
and trigger taken from what Airflow 3 gives every run, Asset events filled from the step's result.

Imported only inside task callables, so a DAG file parses with the Airflow SDK alone.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_declare.steps import StepError, run_from_snapshot

RESULT_KEY = "result"
"""XCom key under which every task pushes its step result (downstream tasks pull it by task id)."""


def logical_date_of(context: Mapping[str, Any]) -> tuple[str, str]:
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


def trigger_of(context: Mapping[str, Any]) -> dict[str, Any] | None:
    """What started the run: the first triggering Asset event (URI, timestamp, extra), or a manual run's conf."""
    for event in _asset_events(context):
        asset = getattr(event, "asset", None)
        timestamp = getattr(event, "timestamp", None)
        return {
            "kind": "asset_event",
            "asset": getattr(asset, "uri", None),
            "timestamp": timestamp.isoformat() if timestamp is not None else None,
            "extra": dict(getattr(event, "extra", None) or {}),
        }
    conf = getattr(context.get("dag_run"), "conf", None)
    if conf:
        return {"kind": "dag_run_conf", "extra": dict(conf)}
    return None


def run_task(
    name: str, snapshot: Mapping[str, Any], project_root: str | Path, upstream: tuple[str, ...], context: Mapping[str, Any]
) -> dict[str, Any]:
    """Pull the producers' results from XCom, run the step, push its result, fill the task's Asset events."""
    task_instance = context["ti"]
    results: dict[str, Mapping[str, Any]] = {}
    for producer in upstream:
        value = task_instance.xcom_pull(task_ids=producer, key=RESULT_KEY)
        if value is None:
            raise StepError(f"task {name!r}: no result from upstream task {producer!r} in this DAG run (XCom key {RESULT_KEY!r})")
        results[producer] = value
    logical_date, source = logical_date_of(context)
    result = run_from_snapshot(
        name, snapshot, project_root, str(context["run_id"]), logical_date, results, trigger_of(context), source
    )
    task_instance.xcom_push(key=RESULT_KEY, value=result)
    _fill_outlet_events(context, result)
    return result


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
