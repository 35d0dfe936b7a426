"""Parse time of each generated DAG file vs a hand-written DAG of the same shape, in one run.

Target (issue 11): generated / hand-written <= 1.2 per DAG. The hand-written twin has the same DAG
arguments, schedule (cron and Assets), tasks (short-circuit for gates, outlets, queues) and edges,
but none of the generated file's constants (embedded config, doc_md). Both are parsed the way
Airflow's DagBag does (`DagBag.process_file`), alternately, in the same process after a warm-up;
the ratio of medians and of the fastest parses are reported (the latter is steadier on a busy machine). Run: `python benchmarks/dag_parse.py [--dags dags] [--runs 30] [--smoke]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def hand_written(dag: dict[str, Any]) -> str:
    """A hand-written DAG with the same shape as the generated one (from its DagSpec in plan.json)."""
    uris = sorted(set(dag["schedule"]["assets"]) | {uri for t in dag["tasks"] for uri in t["outlets"]})
    name = {uri: f"ASSET_{index}" for index, uri in enumerate(uris)}
    cron, scheduled_on = dag["schedule"]["cron"], [name[uri] for uri in dag["schedule"]["assets"]]
    if scheduled_on and cron:
        schedule = f"AssetOrTimeSchedule(timetable=CronTriggerTimetable({cron!r}, timezone='UTC'), assets=({' | '.join(scheduled_on)}))"
    elif scheduled_on:
        schedule = "(" + " | ".join(scheduled_on) + ")"
    else:
        schedule = f"CronTriggerTimetable({cron!r}, timezone='UTC')" if cron else "None"
    lines = [
        "import datetime",
        "from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, task",
        *(f"{name[uri]} = Asset({uri!r})" for uri in uris),
        f"with DAG(dag_id={dag['dag_id'] + '_hand'!r}, schedule={schedule},",
        "         start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),",
        f"         catchup=False, max_active_runs=1, tags={list(dag['tags'])!r}, doc_md='hand-written',",
        "         default_args={'owner': 'mlops', 'retries': 2, 'retry_delay': datetime.timedelta(minutes=5),",
        "                       'execution_timeout': datetime.timedelta(minutes=120)}):",
    ]
    for t in dag["tasks"]:
        arguments = [f"task_id={t['name']!r}"]
        if t["outlets"]:
            arguments.append("outlets=[" + ", ".join(name[uri] for uri in t["outlets"]) + "]")
        lines += [
            f"    @{'task.short_circuit' if t['gate'] else 'task'}({', '.join(arguments)})",
            f"    def {t['name']}(**context):",
            "        from json import dumps",
            "        return dumps(context['run_id'])",
            f"    {t['name']}_task = {t['name']}()",
        ]
    lines += [f"    {upstream}_task >> {downstream}_task" for upstream, downstream in dag["edges"]]
    return "\n".join(lines) + "\n"


def parse_seconds(path: Path) -> float:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.devnull)
    start = time.perf_counter()
    found = bag.process_file(str(path))  # type: ignore[no-untyped-call]
    elapsed = time.perf_counter() - start
    if not found or bag.import_errors:
        raise SystemExit(f"{path} did not parse: {bag.import_errors}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=Path, default=REPO_ROOT / "dags")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="3 runs: checks the benchmark works, not the figure")
    arguments = parser.parse_args()
    runs = 3 if arguments.smoke else arguments.runs
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dag-parse-"))
    sys.path.insert(0, str(REPO_ROOT))
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        plan = json.loads((arguments.dags.parent / "plan.json").read_text(encoding="utf-8"))
        for dag in plan["dags"]:
            generated = arguments.dags.parent / dag["file"]
            twin = Path(folder) / f"{generated.stem}_hand.py"
            twin.write_text(hand_written(dag))
            parse_seconds(generated), parse_seconds(twin)  # warm-up: imports, first-use caches
            ours, theirs = [], []
            for _ in range(runs):
                ours.append(parse_seconds(generated))
                theirs.append(parse_seconds(twin))
            median_ours, median_theirs = statistics.median(ours), statistics.median(theirs)
            report[generated.stem] = {
                "generated_ms": round(median_ours * 1000, 2),
                "hand_written_ms": round(median_theirs * 1000, 2),
                "ratio": round(median_ours / median_theirs, 3),
                # The fastest parse of each is the least disturbed by other load on the machine.
                "ratio_of_fastest": round(min(ours) / min(theirs), 3),
                "target": 1.2,
                "runs": runs,
            }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
