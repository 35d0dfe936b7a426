"""`mlops-declare drift` (one current batch against a reference) and `mlops-declare monitor`
(the served model's whole check, and `monitor history`).

Exit codes: 0 no drift, 1 drift (or a breached performance threshold), 2 error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_declare.cli import add_config_arguments


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    drift = subparsers.add_parser(
        "drift",
        help="compare a current batch with a reference file or a registered model's reference profile",
        description="Per-column drift tests, dataset verdict and multivariate drift of --current against --reference "
        "or the reference profile in a registered model's package (default: the served model). "
        "Exit 0 no drift, 1 drift, 2 error.",
    )
    drift.add_argument("--current", required=True, type=Path, help="Parquet or CSV file with the current rows")
    source = drift.add_mutually_exclusive_group()
    source.add_argument("--reference", type=Path, default=None, help="Parquet or CSV file with the reference rows")
    source.add_argument("--model", default=None, help="registered model reference (NAME@STAGE, NAME:VERSION)")
    drift.add_argument("--json", type=Path, default=None, dest="json_out", help="write the full result as JSON here")
    drift.add_argument("--report", type=Path, default=None, help="write the self-contained HTML report here")
    drift.add_argument("--no-record", action="store_true", help="do not record the check in the registry database")
    add_config_arguments(drift)
    drift.set_defaults(handler=run_drift)

    monitor = subparsers.add_parser(
        "monitor",
        help="the served model's check (drift, performance, alerts, retrain request); `monitor history` shows past checks",
        description="`monitor [options]` checks the newest window of the inference log (or --current FILE) against the "
        "served model's reference profile, records it and fires the configured alerts. `monitor history` lists "
        "every recorded check. Exit 0 no drift, 1 drift or a breached threshold, 2 error.",
    )
    monitor.add_argument("--model", default=None, help="registered model reference (default: serving.model)")
    monitor.add_argument("--current", type=Path, default=None, help="check this file instead of the inference log")
    monitor.add_argument(
        "--last",
        type=int,
        default=None,
        help="the newest N rows of the inference log (default: monitoring.window.size_rows)",
    )
    monitor.add_argument("--since", default=None, help="inference log rows from this ISO time")
    monitor.add_argument("--until", default=None, help="inference log rows before this ISO time")
    monitor.add_argument("--report", type=Path, default=None, help="also write the HTML report here")
    monitor.add_argument("--column", default=None, help="history: only this column's tests")
    monitor.add_argument("--limit", type=int, default=20, help="history: this many checks, newest first")
    monitor.add_argument("--no-record", action="store_true", help="do not record the check")
    monitor.add_argument("--json", action="store_true", dest="print_json", help="print JSON for scripts")
    monitor.add_argument("--output", type=Path, default=None, help="also write the full result as JSON here")
    add_config_arguments(monitor)
    monitor.set_defaults(handler=run_monitor)


def _loaded(args: argparse.Namespace) -> tuple[Any, Path] | tuple[None, None]:
    from mlops_declare.config import load_config
    from mlops_declare.project import project_root_for

    config_dir = Path(args.config_dir)
    if not (config_dir / "config.yaml").is_file():
        return None, None
    return load_config(config_dir, args.overrides), project_root_for(config_dir)


def run_drift(args: argparse.Namespace) -> int:
    from mlops_declare.config.monitoring import MonitoringConfig
    from mlops_declare.monitor import check
    from mlops_declare.monitor.errors import MonitoringError
    from mlops_declare.monitor.reference import file_profile
    from mlops_declare.monitor.window import file_window

    loaded, root = _loaded(args)
    monitoring = loaded.config.monitoring if loaded is not None else MonitoringConfig()
    window = file_window(args.current)
    model = None
    if args.reference is not None:
        profile = file_profile(args.reference, monitoring.drift, monitoring.drift.columns or None)
    else:
        if loaded is None or root is None:
            raise MonitoringError(
                f"no --reference FILE and no project config in {args.config_dir}/ to find a registered model in"
            )
        reference = check.load_model_reference(loaded, root, args.model)
        profile, model = reference.profile, reference.to_json()
    result: dict[str, Any] = {
        "kind": "drift",
        "model": model,
        "window": window.to_json(),
        "drift_result": check.drift_of(profile, window, monitoring),
        "performance": None,
    }
    # `drift` compares two batches: it neither alerts nor asks for a retrain (`monitor` does).
    result.update(drift=check.drift_verdict(result), retrain=None, alerts=[])
    history: list[dict[str, Any]] = []
    if loaded is not None and root is not None and not args.no_record:
        check_id = result["check_id"] = check.record_check(loaded, root, result)
        reports = result["reports"] = check.report_paths(loaded, root, check_id)
        history = check.check_history(loaded, root, model["name"] if model else None)
        check.write_reports(result, history, json_path=reports["json"], html_path=reports["html"])
    check.write_reports(result, history, json_path=args.json_out, html_path=args.report)
    _print_summary(result)
    return 1 if result["drift"] else 0


def run_monitor(args: argparse.Namespace) -> int:
    from mlops_declare.monitor import check
    from mlops_declare.monitor.errors import MonitoringError
    from mlops_declare.monitor.window import file_window

    words = list(args.overrides)
    history = bool(words) and words[0] == "history"
    args.overrides = words[1:] if history else words
    loaded, root = _loaded(args)
    if loaded is None or root is None:
        raise MonitoringError(
            f"no project config in {args.config_dir}/ (config.yaml); run in a project or pass --config-dir"
        )
    if history:
        return _history(loaded, root, args)
    model = check.load_model_reference(loaded, root, args.model)
    if args.current is not None:
        window = file_window(args.current)
    else:
        since, until = _time(args.since, "--since"), _time(args.until, "--until")
        window = check.current_window(loaded, root, model.name, args.last, since, until)
    result = check.measure(loaded, root, model, window)
    if args.no_record:
        result = _settle_unrecorded(loaded, root, result)
    else:
        result = check.settle_check(loaded, root, result)
    if args.output is not None or args.report is not None:
        past = [] if args.no_record else check.check_history(loaded, root, model.name)
        check.write_reports(result, past, json_path=args.output, html_path=args.report)
    if args.print_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_summary(result)
    return 1 if result["drift"] else 0


def _settle_unrecorded(loaded: Any, root: Path, result: dict[str, Any]) -> dict[str, Any]:
    """`monitor --no-record`: the verdict, the retrain request and the alerts, without a record or its reports."""
    from mlops_declare.monitor import check

    result["drift"] = check.drift_verdict(result)
    request = check.retrain_due(loaded, root, result)
    result["retrain"] = request.model_dump(mode="json") if request is not None else None
    check.note_held_back_retrain(loaded, root, result)
    retrain_file = check.emit_retrain_request(loaded, root, request) if request is not None else None
    if retrain_file is not None:
        result["retrain_file"] = str(retrain_file)
    result["alerts"] = check.alert(loaded, root, result)
    return result


def _time(value: str | None, option: str) -> datetime | None:
    from mlops_declare.monitor.errors import MonitoringError

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise MonitoringError(
            f"{option} {value!r} is not an ISO date or time (e.g. 2026-11-30T12:00:00+00:00)"
        ) from None


def _history(loaded: Any, root: Path, args: argparse.Namespace) -> int:
    from mlops_declare.monitor.check import check_history

    model = args.model.split("@")[0].split(":")[0] if args.model else None
    checks = check_history(loaded, root, model, args.column, args.limit)
    if args.print_json or args.output is not None:
        text = json.dumps(checks, indent=2, default=str)
        if args.output is not None:
            args.output.write_text(text + "\n", encoding="utf-8")
        if args.print_json:
            print(text)
        return 0
    if not checks:
        print("no recorded checks" + (f" with column {args.column!r}" if args.column else ""))
        return 0
    for check in checks:
        model_label = f"{check['model_name']}:{check['model_version']}" if check["model_name"] else "(files)"
        verdict = (
            "insufficient data" if check["status"] == "insufficient_data" else ("DRIFT" if check["drift"] else "ok")
        )
        print(
            f"#{check['id']} {check['created_at'][:19]} {check['kind']} {model_label} rows={check['rows']} "
            f"drift_share={check['drift_share']:.3g} {verdict}"
        )
        for column in check["columns"]:
            if args.column is None and not column["drifted"]:
                continue
            print(
                f"    {column['column']:<24} {column['method']:<16} {_number(column['score'])} "
                f"threshold {column['threshold']:.4g} {'DRIFT' if column['drifted'] else 'ok'}"
            )
        for metric in check["metrics"]:
            print(
                f"    {metric['name']:<40} {_number(metric['value'])}{' (estimate)' if metric['estimated'] else ''}"
                f"{' BREACHED' if metric['breached'] else ''}"
            )
    return 0


def _number(value: float | None) -> str:
    return f"{value:<12.4g}" if value is not None else f"{'-':<12}"


def _print_summary(result: dict[str, Any]) -> None:
    drift = result["drift_result"]
    out = sys.stdout
    if drift["status"] == "insufficient_data":
        print(f"insufficient data: {drift['message']}", file=out)
        return
    print(f"{'column':<28} {'method':<16} {'kind':<8} {'score':<12} {'threshold':<10} drift", file=out)
    columns = list(drift["columns"]) + ([drift["prediction"]] if drift.get("prediction") else [])
    for column in columns:
        score = column["p_value_adjusted"] if column["p_value_adjusted"] is not None else column["score"]
        print(
            f"{column['column']:<28} {column['method']:<16} {column['score_kind']:<8} {_number(score)} "
            f"{column['threshold']:<10.4g} {'DRIFT' if column['drifted'] else ('-' if column['status'] != 'tested' else 'no')}",
            file=out,
        )
    for signal in drift["signals"]:
        print(
            f"signal: {signal['kind']} in {signal['column']}: {signal['value']:.3g} (threshold {signal['threshold']})",
            file=out,
        )
    for name, test in (drift.get("multivariate") or {}).items():
        if test.get("score") is not None:
            print(
                f"multivariate {name}: {test['score']:.4g} (threshold {test['threshold']:.4g}) {'DRIFT' if test['drifted'] else 'no'}",
                file=out,
            )
    for metric in (result.get("performance") or {}).get("metrics", []):
        print(
            f"performance {metric['name']}{' (estimate)' if metric['estimated'] else ''}: {metric['value']:.4g}"
            f"{' BREACHED' if metric['breached'] else ''} on {metric['rows']} rows",
            file=out,
        )
    dataset = drift["dataset"]
    print(
        f"dataset drift: {'YES' if dataset['dataset_drift'] else 'no'} ({dataset['drifted']} of {dataset['tested']} columns, "
        f"share {dataset['drift_share']:.3g}, threshold {dataset['threshold']}); verdict: {'DRIFT' if result['drift'] else 'no drift'}",
        file=out,
    )
    if result.get("check_id") is not None:
        print(f"recorded as check #{result['check_id']}; report: {result['reports']['html']}", file=out)
    if result.get("retrain"):
        print(
            f"retrain requested ({result['retrain']['reason']})"
            + (f": {result['retrain_file']}" if result.get("retrain_file") else ""),
            file=out,
        )
    if result.get("retrain_held_back"):
        print(result["retrain_held_back"], file=out)
