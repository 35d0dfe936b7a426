"""Foundation verbs: init, validate, compile, plan, schema, run."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from mlops_declare.cli import add_config_arguments
from mlops_declare.contracts.steps import DAG_ROLES
from mlops_declare.errors import MlopsDeclareError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = subparsers.add_parser(
        "init",
        help="create a new project folder with a working conf/",
        description="Create DIR with the example conf/ and schemas/ (never overwrites).",
    )
    init.add_argument("directory", metavar="DIR", help="folder to create (or an empty existing one)")
    init.add_argument("--name", help="project name written into conf/config.yaml (default: the folder's name)")
    init.set_defaults(handler=run_init)

    validate = subparsers.add_parser(
        "validate",
        help="compose and validate the config; every error names file, path and fix",
        description="Compose conf/ with overrides, validate every group and the cross-group rules.",
    )
    add_config_arguments(validate)
    validate.add_argument(
        "--print", dest="print_config", action="store_true", help="print the validated config as JSON"
    )
    validate.set_defaults(handler=run_validate)

    compile_ = subparsers.add_parser(
        "compile",
        help="write plan.json, dags/, the BentoML service project and schemas/",
        description="Compile the config into plan.json, Airflow DAGs, the BentoML service project and JSON Schemas.",
    )
    add_config_arguments(compile_)
    compile_.add_argument("--check", action="store_true", help="write nothing; exit 1 if committed output is stale")
    compile_.set_defaults(handler=run_compile)

    plan = subparsers.add_parser(
        "plan",
        help="show what compile would add, change or remove",
        description="Show the plan (steps, DAGs) and what `compile` would change on disk.",
    )
    add_config_arguments(plan)
    plan.add_argument("--json", action="store_true", help="print plan.json instead of a summary")
    plan.set_defaults(handler=run_plan)

    schema = subparsers.add_parser(
        "schema",
        help="write the config's JSON Schemas under schemas/",
        description="Export the JSON Schemas of the config groups.",
    )
    schema.add_argument("--output-dir", default=".", help="project root that holds schemas/ (default: .)")
    schema.add_argument("--check", action="store_true", help="write nothing; exit 1 if schemas/ is stale")
    schema.set_defaults(handler=run_schema)

    run = subparsers.add_parser(
        "run",
        help="run the pipeline locally: every implemented step in order",
        description="Run the compiled pipeline locally, in plan order, for one logical date.",
    )
    add_config_arguments(run)
    run.add_argument("--logical-date", default=None, help="YYYY-MM-DD the run is for (default: today, UTC)")
    run.add_argument(
        "--run-id", default=None, help="run directory name (default: derived from project, DAG, date and config)"
    )
    run.add_argument(
        "--dag", default="training", choices=DAG_ROLES, help="which DAG's steps to run (default: training)"
    )
    run.add_argument(
        "--trigger-file",
        default=None,
        metavar="FILE",
        help="a JSON-lines file of retrain requests (e.g. .mlops/triggers/retrain.jsonl): the newest line starts this run and is recorded in the new version's lineage",
    )
    run.set_defaults(handler=run_run)


def _load(args: argparse.Namespace) -> Any:
    from mlops_declare.config import load_config

    return load_config(args.config_dir, args.overrides)


def _compile(args: argparse.Namespace) -> tuple[Any, Any, dict[str, str], Path]:
    from mlops_declare.compiler import compile_outputs
    from mlops_declare.project import project_root_for

    loaded = _load(args)
    root = project_root_for(args.config_dir)
    source = Path(args.config_dir).name if Path(args.config_dir).is_absolute() else Path(args.config_dir).as_posix()
    plan, files = compile_outputs(loaded, source=source)
    return loaded, plan, files, root


def run_init(args: argparse.Namespace) -> int:
    from mlops_declare.project import init_project

    target = Path(args.directory)
    name = args.name or project_name_for(target)
    init_project(target, name)
    print(f"created {target}/conf and {target}/schemas for project {name!r}")
    print(f"next: cd {target} && mlops-declare validate && mlops-declare run")
    return 0


def project_name_for(directory: Path) -> str:
    """`project.name` for a new project: the folder's name made a valid name (`My Shop` -> `my_shop`)."""
    import re

    from mlops_declare.config.base import NAME_PATTERN

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", directory.resolve().name).strip("_.-").lower()[:64]
    if not re.match(NAME_PATTERN, name):
        name = f"project_{name}"[:64] if name else "project"
    return name


def run_validate(args: argparse.Namespace) -> int:
    from mlops_declare.compiler import cross_group_problems
    from mlops_declare.errors import CompileError

    loaded = _load(args)
    problems = cross_group_problems(loaded)
    if problems:
        raise CompileError(problems)
    if args.print_config:
        print(json.dumps(loaded.snapshot, indent=2, sort_keys=True))
        return 0
    choices = ", ".join(f"{group}={option}" for group, option in loaded.choices.items() if option)
    print(f"valid: project {loaded.config.project.name!r} ({choices})")
    print(f"config fingerprint {loaded.fingerprint}")
    return 0


def run_compile(args: argparse.Namespace) -> int:
    from mlops_declare.project import check_outputs, write_outputs

    _loaded, plan, files, root = _compile(args)
    if args.check:
        diff = check_outputs(root, files)
        print(f"up to date: {len(diff.unchanged)} generated files match the config (plan {plan.fingerprint[:12]})")
        return 0
    diff = write_outputs(root, files)
    print(diff.summary())
    print(f"plan {plan.fingerprint[:12]}: {len(plan.steps)} steps, DAGs: {', '.join(dag.dag_id for dag in plan.dags)}")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from mlops_declare.project import diff_outputs

    _loaded, plan, files, root = _compile(args)
    if args.json:
        sys.stdout.write(plan.to_json())
        return 0
    print(f"project {plan.project}: config fingerprint {plan.config_fingerprint[:12]}, plan {plan.fingerprint[:12]}")
    for dag in plan.dags:
        print(f"DAG {dag.dag_id} (schedule: {dag.schedule.describe()}): {' -> '.join(dag.steps)}")
    print(f"service {plan.service.name}: serves {plan.service.model}")
    print(diff_outputs(root, files).summary())
    return 0


def run_schema(args: argparse.Namespace) -> int:
    from mlops_declare.config.schema import SCHEMA_DIR, render_schemas
    from mlops_declare.project import check_outputs, write_outputs

    root = Path(args.output_dir).resolve()
    files = {f"{SCHEMA_DIR}/{name}": text for name, text in render_schemas().items()}
    if args.check:
        check_outputs(root, files, what="schema")
        print(f"up to date: {len(files)} schemas")
        return 0
    print(write_outputs(root, files).summary())
    return 0


def run_run(args: argparse.Namespace) -> int:
    from mlops_declare.contracts.layouts import run_folder_name
    from mlops_declare.contracts.results import StepResult
    from mlops_declare.contracts.seams import Trigger
    from mlops_declare.steps import run_pipeline, step_context

    loaded, plan, files, root = _compile(args)
    logical_date = args.logical_date or datetime.datetime.now(datetime.UTC).date().isoformat()
    _check_date(logical_date)
    dag = next((dag for dag in plan.dags if dag.role == args.dag), None)
    if dag is None:
        roles = ", ".join(dag.role for dag in plan.dags)
        raise MlopsDeclareError(f"--dag {args.dag}: the plan has no {args.dag} DAG (it has: {roles})")
    run_id = args.run_id or run_folder_name(plan.project, args.dag, logical_date, loaded.fingerprint[:8])
    print(f"run {run_id}: {' -> '.join(dag.steps)}")

    def report(name: str, result: StepResult | None, skipped: str | None) -> None:
        print(f"  {name}: skipped; {skipped}" if result is None else f"  {name}: done; {_summary(result.to_json())}")

    trigger = None
    if args.trigger_file is not None:
        request = read_trigger_file(Path(args.trigger_file))
        trigger = Trigger(kind="retrain_request", extra=request)
        print(f"triggered by {args.trigger_file}: {_summary(request, limit=4)}")
    # The run's plan is compiled from this command's config (overrides included) and snapshotted
    # into the run folder by its first step, as an Airflow run snapshots the committed plan.json.
    context = step_context(plan, loaded, root, run_id, logical_date, trigger)
    _write_run_service(context.run_dir, root, plan.service.directory, files)
    outcome = run_pipeline(context, dag.steps, on_step=report)
    scored = outcome.results.get("evaluate") or outcome.results.get("train")
    if scored is not None:
        from mlops_declare.cli.train import render_metrics

        print(
            f"metrics of the trained model ({'re-scored by evaluate' if 'evaluate' in outcome.results else 'train'}):"
        )
        print(render_metrics(scored.to_json()["metrics"]))
    closed = outcome.gates_closed
    ending = (
        f"ended at gate {closed[0]!r}: {'not promoted' if closed[0] == 'promote' else 'gate closed'}"
        if closed
        else "finished"
    )
    print(f"run {run_id} {ending}; results in {loaded.config.project.home_path(root) / 'runs' / run_id}")
    return 0


def _write_run_service(run_dir: Path, root: Path, directory: str, files: dict[str, str]) -> None:
    """When this command line changes the service (an override), the run gets its own service project.

    `deploy` then builds the bento from `<run folder>/service/`, which matches the run's plan; with no
    such override the committed `service/` is used, as in an Airflow run.
    """
    from mlops_declare.project import write_outputs

    service = {path: text for path, text in files.items() if path.startswith(f"{directory}/")}
    if all(
        (root / path).is_file() and (root / path).read_text(encoding="utf-8") == text for path, text in service.items()
    ):
        return
    write_outputs(run_dir, service)


def read_trigger_file(path: Path) -> dict[str, Any]:
    """The newest (last non-blank) line of a JSON-lines file of retrain requests (mlops_declare/contracts/seams.py)."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise MlopsDeclareError(f"--trigger-file {path}: cannot read it ({exc.strerror or exc})") from None
    if not lines:
        raise MlopsDeclareError(f"--trigger-file {path}: the file holds no retrain request (it is empty)")
    try:
        request = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise MlopsDeclareError(
            f"--trigger-file {path}: its last line is not JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(request, dict):
        raise MlopsDeclareError(
            f"--trigger-file {path}: its last line is a JSON {type(request).__name__}, not a retrain request object"
        )
    return request


def _summary(result: dict[str, Any], limit: int = 8) -> str:
    """A one-line digest of a step result: its scalar entries and one level of nested numbers."""
    parts: list[str] = []
    for key, value in sorted(result.items()):
        if isinstance(value, (str, int, float, bool)) or value is None:
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            # Fingerprints are long hex strings; 12 characters identify them, as git does.
            parts.append(
                f"{key}={text[:12] if len(text) == 64 and all(c in '0123456789abcdef' for c in text) else text}"
            )
        elif isinstance(value, list) and all(isinstance(item, (str, int)) for item in value) and len(value) <= 6:
            parts.append(f"{key}=[{', '.join(str(item) for item in value)}]")
        elif isinstance(value, dict):
            for inner, item in sorted(value.items()):
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    parts.append(f"{key}.{inner}={item:.4g}")
                elif isinstance(item, str) and len(item) <= 40:
                    parts.append(f"{key}.{inner}={item}")
                elif isinstance(item, dict) and "decision" in item:
                    parts.append(f"{key}.{inner}={item['decision']}")
    shown = parts[:limit]
    if len(parts) > limit:
        shown.append(f"... {len(parts) - limit} more in the step's JSON")
    return ", ".join(shown)


def _check_date(text: str) -> None:
    from mlops_declare.errors import MlopsDeclareError

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        raise MlopsDeclareError(f"--logical-date: {text!r} is not a date (YYYY-MM-DD)") from None
