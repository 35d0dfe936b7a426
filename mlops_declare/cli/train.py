"""`mlops-declare train`: one training run (ingest -> train) or, with -m, a Hydra-style sweep."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
from pathlib import Path
from typing import Any

from mlops_declare.cli import add_config_arguments
from mlops_declare.contracts.environment import LOCAL_RANK, NODE_RANK
from mlops_declare.errors import MlopsDeclareError

DATA_STEPS = ("snapshot_config", "ingest", "validate_data")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "train",
        help="train the configured model and write a model package (-m: sweep)",
        description=(
            "Prepare the data, train with Lightning at the configured precision, apply the pruning schedule, "
            "evaluate on val/test and write a model package. With -m, comma-separated overrides "
            "(model.hidden=[32],[64] trainer.precision=32-true,bf16-mixed) run every combination."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument(
        "-m", "--multirun", action="store_true", help="run every combination of comma-separated overrides"
    )
    parser.add_argument("--logical-date", default=None, help="YYYY-MM-DD the data is for (default: today, UTC)")
    parser.add_argument("--run-id", default=None, help="run directory name under <home>/runs (default: a new one)")
    parser.add_argument(
        "--fast-dev-run", action="store_true", help="one batch of train and val, to check the setup end to end"
    )
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    logical_date = args.logical_date or datetime.datetime.now(datetime.UTC).date().isoformat()
    _check_date(logical_date)
    if args.multirun:
        return run_sweep(args, logical_date)
    from mlops_declare.config import load_config
    from mlops_declare.steps.train import TRAIN_COMMAND_VARIABLE

    loaded = load_config(args.config_dir, args.overrides)
    # DDP workers are this command re-run by Lightning; they join the run the launcher named.
    inherited = os.environ.get(TRAIN_COMMAND_VARIABLE) if _is_ddp_worker() else None
    run_id = inherited or args.run_id or _new_run_id("train", loaded.fingerprint)
    result = train_once(loaded, args.config_dir, run_id, logical_date, args.fast_dev_run)
    if result.get("package_dir") is None:
        return 0  # a DDP worker: rank 0 reports
    print_result(result)
    return 0


def train_once(loaded: Any, config_dir: str, run_id: str, logical_date: str, fast_dev_run: bool) -> dict[str, Any]:
    """Data steps then the train step in run `run_id`; DDP workers reuse rank 0's data and record nothing."""
    from mlops_declare.atomic import write_json_atomic
    from mlops_declare.compiler import compile_plan
    from mlops_declare.contracts.results import DatasetResult, StepResult, ValidationResult
    from mlops_declare.project import project_root_for
    from mlops_declare.steps import run_step, step_context, validated_result
    from mlops_declare.steps.train import TRAIN_COMMAND_VARIABLE, check_before_data, train

    check_before_data(loaded, fast_dev_run)
    root = project_root_for(config_dir)
    os.environ[TRAIN_COMMAND_VARIABLE] = run_id
    context = step_context(compile_plan(loaded), loaded, root, run_id, logical_date)
    results: dict[str, StepResult] = {}
    if _is_ddp_worker():
        # Lightning re-ran this command for rank > 0 on the same node: rank 0 has prepared the data
        # in this run directory already and recorded its results there.
        for step in DATA_STEPS:
            recorded = json.loads((context.run_dir / "steps" / f"{step}.json").read_text(encoding="utf-8"))
            results[step] = validated_result(step, recorded)
    else:
        for step in DATA_STEPS:
            results[step] = run_step(step, context, results)
    dataset, validation = results["ingest"], results["validate_data"]
    assert isinstance(dataset, DatasetResult) and isinstance(validation, ValidationResult)
    result = train(context, dataset, validation, fast_dev_run=fast_dev_run).to_json()
    if not _is_ddp_worker() and result.get("package_dir"):
        write_json_atomic(context.run_dir / "steps" / "train.json", result)
    # What the command prints names files the user can open from anywhere: absolute paths.
    for key in ("package_dir", "pruning_report_path"):
        if result.get(key):
            result[key] = str(context.resolve(result[key]))
    return result


def _is_ddp_worker() -> bool:
    # Lightning starts DDP ranks > 0 by re-running this command with LOCAL_RANK (and NODE_RANK) set.
    return os.environ.get(LOCAL_RANK, "0") != "0" or os.environ.get(NODE_RANK, "0") != "0"


def print_result(result: dict[str, Any]) -> None:
    from mlops_declare.train.report import render_pruning_report

    precision = result["precision"]
    print(
        f"precision: {precision['used']} (requested {precision['requested']}, {precision['accelerator']}, "
        f"matmul {precision['matmul_precision']}); weights from {result['weights_from']}"
    )
    print(render_metrics(result["metrics"]))
    report_path = result.get("pruning_report_path")
    if report_path:
        import json

        print(render_pruning_report(json.loads(Path(report_path).read_text(encoding="utf-8"))))
    print(f"model package: {result['package_dir']}")


def render_metrics(metrics: dict[str, dict[str, float]]) -> str:
    names = list(metrics.get("val", {}))
    lines = [f"  {'metric':<12} {'val':>10} {'test':>10}"]
    for name in names:
        lines.append(
            f"  {name:<12} {metrics['val'][name]:>10.4f} {metrics.get('test', {}).get(name, float('nan')):>10.4f}"
        )
    return "\n".join(lines)


def run_sweep(args: argparse.Namespace, logical_date: str) -> int:
    """Each combination in its own run directory; a failed combination is reported, the others still run."""
    from mlops_declare.config import load_config
    from mlops_declare.train.sweep import expand_sweep, render_sweep_table, sweep_changes

    combinations = expand_sweep(args.overrides)
    sweep_id = args.run_id or _new_run_id("sweep", "")
    rows: list[dict[str, Any]] = []
    objective = None
    print(f"sweep {sweep_id}: {len(combinations)} runs")
    for index, combination in enumerate(combinations):
        changes = sweep_changes(combination, args.overrides)
        print(f"[{index + 1}/{len(combinations)}] {' '.join(changes) or '(defaults)'}")
        try:
            loaded = load_config(args.config_dir, combination)
            if loaded.config.trainer.strategy == "ddp":
                raise MlopsDeclareError(
                    "trainer.strategy: 'ddp' restarts the command in each process, which a sweep cannot do; "
                    "use strategy ddp_spawn in sweeps"
                )
            objective = objective or loaded.config.trainer.objective
            result = train_once(loaded, args.config_dir, f"{sweep_id}_{index:03d}", logical_date, args.fast_dev_run)
            rows.append({"overrides": changes, **result})
        except MlopsDeclareError as exc:
            print(f"  failed: {exc}")
            rows.append({"overrides": changes, "error": str(exc).splitlines()[0]})
    print(render_sweep_table(rows, objective or "loss"))
    return 0 if all("error" not in row for row in rows) else 1


def _new_run_id(prefix: str, fingerprint: str) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    suffix = fingerprint[:8] if fingerprint else secrets.token_hex(4)
    return f"{prefix}_{stamp}_{suffix}"


def _check_date(text: str) -> None:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        raise MlopsDeclareError(f"--logical-date: {text!r} is not a date (YYYY-MM-DD)") from None
