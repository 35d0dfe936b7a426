"""`mlops-declare registry ...`: list, show, register, promote, alias, rollback, history, deployments, load,
delete, verify, gc, upgrade.

Every verb reads the registry URLs from the config (relative paths against the project root,
the config directory's parent), prints a readable table, or JSON with `--json`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_declare.cli import add_config_arguments

VERBS: dict[str, str] = {
    "list": "models, or the versions of one model",
    "show": "one version: files, metrics, lineage, stages, aliases",
    "register": "register a model package directory by hand",
    "promote": "move a version into a stage through its gate",
    "alias": "point an alias (e.g. champion) at a version",
    "rollback": "return a stage to its previous holder",
    "history": "the audit log of a model: who, when, from -> to, why",
    "deployments": "where a model's versions were built and served, newest first",
    "load": "copy a version's verified package to a directory",
    "delete": "remove a version from listings (gc frees its files)",
    "verify": "check every stored artefact against its sha256 manifest",
    "gc": "remove store directories no version points at",
    "upgrade": "migrate the registry database to this version's schema (read-only opens never migrate)",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "registry",
        help="model registry: versions, stages, aliases, history, integrity",
        description="Inspect and change the model registry named by the `registry` config group.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_IntermixedParser)
    for verb, summary in VERBS.items():
        sub = verbs.add_parser(verb, help=summary, description=summary[0].upper() + summary[1:] + ".")
        ARGUMENTS[verb](sub)
        sub.add_argument("--json", action="store_true", help="print JSON for scripts")
        add_config_arguments(sub)
        sub.set_defaults(handler=lambda args, verb=verb: run_verb(verb, args))


class _IntermixedParser(argparse.ArgumentParser):
    """Lets Hydra overrides follow options: `registry promote digits:1 --stage production registry=postgres`.

    Plain argparse binds every positional at the first run of positionals, so overrides after an
    option would be "unrecognized"; intermixed parsing collects positionals from anywhere.
    """

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="NAME@STAGE_OR_ALIAS, NAME:VERSION or NAME:latest")


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default=None, help="who is acting (default: $MLOPS_DECLARE_ACTOR or the login name)")
    parser.add_argument("--reason", default=None, help="why; written to the audit log")


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name", default=None, help="list the versions of this model (or give NAME first: `registry list NAME`)"
    )
    parser.add_argument("--all", action="store_true", help="include deleted versions")


def _register_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package_dir", metavar="PACKAGE_DIR", help="a model package directory (with metrics.json)")
    parser.add_argument("--name", default=None, help="model name (default: model.name from the config)")
    parser.add_argument("--description", default="", help="a note stored with the version")
    parser.add_argument("--actor", default=None, help="who is registering (default: the login name)")


def _promote_arguments(parser: argparse.ArgumentParser) -> None:
    _ref(parser)
    parser.add_argument("--stage", required=True, help="a stage declared in registry.stages")
    parser.add_argument("--force", action="store_true", help="promote despite a failed gate (needs --reason; logged)")
    _actor(parser)


def _alias_arguments(parser: argparse.ArgumentParser) -> None:
    _ref(parser)
    parser.add_argument("--alias", required=True, help="an alias declared in registry.aliases")
    _actor(parser)


def _rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="model name")
    parser.add_argument("--stage", required=True, help="the stage (or alias) to return to its previous holder")
    _actor(parser)


def _name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="model name")


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    _name_argument(parser)
    parser.add_argument("--stage", default=None, help="only events of this stage or alias (what held it, when)")


def _deployments_arguments(parser: argparse.ArgumentParser) -> None:
    _name_argument(parser)
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the N newest records")


def _load_arguments(parser: argparse.ArgumentParser) -> None:
    _ref(parser)
    parser.add_argument("--to", default=None, help="destination directory (default: <home>/cache)")


def _delete_arguments(parser: argparse.ArgumentParser) -> None:
    _ref(parser)
    parser.add_argument("--force", action="store_true", help="delete even if it holds a stage or alias")
    _actor(parser)


def _gc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="keep orphans younger than this, which may be registrations in progress (default: 3600)",
    )


ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "list": _list_arguments,
    "show": _ref,
    "register": _register_arguments,
    "promote": _promote_arguments,
    "alias": _alias_arguments,
    "rollback": _rollback_arguments,
    "history": _history_arguments,
    "deployments": _deployments_arguments,
    "load": _load_arguments,
    "delete": _delete_arguments,
    "verify": lambda parser: None,
    "gc": _gc_arguments,
    "upgrade": lambda parser: None,
}


def run_verb(verb: str, args: argparse.Namespace) -> int:
    from mlops_declare.config import load_config
    from mlops_declare.project import project_root_for
    from mlops_declare.registry import open_registry

    if verb == "list" and args.name is None and args.overrides and "=" not in args.overrides[0]:
        # `registry list NAME`, positional like the other verbs' references (a Hydra override always has '=').
        args.name, args.overrides = args.overrides[0], args.overrides[1:]
    loaded = load_config(args.config_dir, args.overrides)
    root = project_root_for(args.config_dir)
    if verb == "upgrade":
        return _upgrade(loaded.config.registry, root, args)
    cache = loaded.config.project.home_path(root) / "cache"
    # The registry command is the administrator's tool: it migrates a fresh or older database, as `upgrade` does.
    with open_registry(loaded.config.registry, root, read_only=False, cache_dir=cache) as registry:
        return HANDLERS[verb](registry, args, loaded)


# --- handlers ----------------------------------------------------------------


def _list(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    if args.name:
        versions = registry.list_versions(args.name, include_deleted=args.all)
        if args.json:
            return _print_json([version.to_dict() for version in versions])
        rows = [
            [
                version.version,
                version.status,
                _when(version.created_at),
                version.created_by,
                ", ".join(version.stages + version.aliases) or "-",
                _metrics_text(version.metrics),
            ]
            for version in versions
        ]
        _print_table(["VERSION", "STATUS", "CREATED", "BY", "STAGES/ALIASES", "METRICS"], rows)
        return 0
    models = registry.list_models()
    if args.json:
        return _print_json([model.to_dict() for model in models])
    rows = [
        [model.name, model.latest_version or "-", model.live_versions, _labels_text(model.labels)] for model in models
    ]
    _print_table(["MODEL", "LATEST", "VERSIONS", "STAGES/ALIASES"], rows)
    return 0


def _show(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    version = registry.resolve(args.ref)
    if args.json:
        return _print_json(version.to_dict())
    lineage = version.lineage
    pairs = [
        ("version", version.ref),
        ("status", version.status),
        ("created", f"{_when(version.created_at)} by {version.created_by}"),
        ("stages", ", ".join(version.stages) or "-"),
        ("aliases", ", ".join(version.aliases) or "-"),
        ("manifest sha256", version.manifest_sha256),
        ("size", f"{version.size_bytes} bytes in {len(version.files)} files"),
        ("config fingerprint", lineage.config_fingerprint or "-"),
        ("datasets", _datasets_text(lineage.datasets)),
        ("training run", lineage.training_run_id or "-"),
        ("airflow", f"{lineage.airflow_dag_id} / {lineage.airflow_run_id}" if lineage.airflow_dag_id else "-"),
        ("git commit", lineage.git_commit or "-"),
        ("package version", lineage.package_version or "-"),
        ("parent version", lineage.parent_version or "-"),
    ]
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        print(f"{key:<{width}}  {value}")
    print("\nmetrics")
    _print_table(
        ["SPLIT", "METRIC", "VALUE"],
        [[s, m, f"{v:.6g}"] for s, vs in sorted(version.metrics.items()) for m, v in sorted(vs.items())],
    )
    print("\nfiles")
    _print_table(["PATH", "BYTES", "SHA256"], [[f.path, f.size, f.sha256] for f in version.files])
    return 0


def _register(registry: Any, args: argparse.Namespace, loaded: Any) -> int:
    from mlops_declare.project import project_root_for
    from mlops_declare.registry.package import lineage_from_package
    from mlops_declare.steps.registry import git_commit

    name = args.name or loaded.config.model.name
    package = Path(args.package_dir).resolve()
    # `mlops-declare train` writes <home>/runs/<run id>/model: keep that run id as lineage.
    run_id = package.parent.name if package.name == "model" and package.parent.parent.name == "runs" else None
    lineage = lineage_from_package(
        package, training_run_id=run_id, git_commit=git_commit(project_root_for(args.config_dir))
    )
    version = registry.register(
        name,
        package,
        lineage=lineage,
        actor=args.actor,
        description=args.description,
    )
    if args.json:
        return _print_json(version.to_dict())
    print(f"registered {version.ref} ({len(version.files)} files, manifest {version.manifest_sha256[:16]})")
    return 0


def _promote(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    result = registry.promote(args.ref, args.stage, actor=args.actor, force=args.force, reason=args.reason)
    if args.json:
        return _print_json(result.to_dict())
    if not result.changed:
        print(f"{result.name}:{result.version} already holds {result.label}")
        return 0
    if result.decision is not None:
        print(result.decision.summary())
    previous = f"version {result.previous}" if result.previous is not None else "no holder"
    forced = " (FORCED)" if result.forced else ""
    print(f"{result.name}@{result.label}: {previous} -> version {result.version}{forced}")
    return 0


def _alias(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    result = registry.set_alias(args.ref, args.alias, actor=args.actor, reason=args.reason)
    if args.json:
        return _print_json(result.to_dict())
    previous = f"version {result.previous}" if result.previous is not None else "nothing"
    print(f"{result.name}@{result.label}: {previous} -> version {result.version}")
    return 0


def _rollback(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    result = registry.rollback(args.name, args.stage, actor=args.actor, reason=args.reason)
    if args.json:
        return _print_json(result.to_dict())
    print(f"{result.name}@{result.label}: rolled back from version {result.previous} to version {result.version}")
    return 0


def _history(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    events = registry.history(args.name)
    if args.stage:
        events = [event for event in events if event.label == args.stage]
    if args.json:
        return _print_json([event.to_dict() for event in events])
    rows = [
        [
            _when(event.created_at),
            event.actor,
            event.kind + (" (FORCED)" if event.forced else ""),
            event.version or "-",
            event.label or "-",
            _move_text(event),
            event.decision or "-",
            _event_note(event),
        ]
        for event in events
    ]
    _print_table(["WHEN", "WHO", "EVENT", "VERSION", "STAGE/ALIAS", "FROM -> TO", "GATE", "WHY / NUMBERS"], rows)
    return 0


def _deployments(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    records = registry.deployments(args.name, limit=args.limit)
    if args.json:
        return _print_json([record.to_dict() for record in records])
    rows = [
        [
            _when(record.recorded_at),
            record.version,
            record.target,
            record.status,
            record.actor,
            _details_text(record.details),
        ]
        for record in records
    ]
    _print_table(["WHEN", "VERSION", "TARGET", "STATUS", "WHO", "DETAILS"], rows)
    return 0


def _upgrade(config: Any, root: Path, args: argparse.Namespace) -> int:
    """Migrate the database only: no artefact store is opened and no model is read."""
    from mlops_declare.registry import resolve_store_urls
    from mlops_declare.registry.database import create_registry_engine, redacted_url, upgrade_to_head

    store_url, _artifact_url = resolve_store_urls(config, root)
    engine = create_registry_engine(store_url)
    try:
        before, after = upgrade_to_head(engine)
    finally:
        engine.dispose()
    database = redacted_url(store_url)
    if args.json:
        return _print_json({"database": database, "from": before, "to": after, "changed": before != after})
    if before == after:
        print(f"registry database {database}: schema already at revision {after}")
    else:
        print(f"registry database {database}: schema upgraded from revision {before or '(empty)'} to {after}")
    return 0


def _load(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    path = registry.load(args.ref, args.to)
    if args.json:
        return _print_json({"ref": args.ref, "path": str(path)})
    print(path)
    return 0


def _delete(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    version = registry.delete_version(args.ref, actor=args.actor, reason=args.reason, force=args.force)
    if args.json:
        return _print_json({"deleted": version.ref})
    print(f"deleted {version.ref}; `mlops-declare registry gc` frees its files")
    return 0


def _verify(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    report = registry.verify()
    if args.json:
        _print_json(report.to_dict())
        return 0 if report.ok else 1
    for ref, problem in report.problems:
        print(f"CORRUPT {ref}: {problem}")
    for key in report.orphans:
        print(f"orphan  {key} (no version points at it; `registry gc` removes it)")
    verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"verified {report.checked} version(s): {verdict}")
    return 0 if report.ok else 1


def _gc(registry: Any, args: argparse.Namespace, _loaded: Any) -> int:
    report = registry.gc(min_age_seconds=args.min_age)
    if args.json:
        return _print_json(report.to_dict())
    for key in report.removed:
        print(f"removed {key}")
    if report.kept_recent:
        print(
            f"kept {len(report.kept_recent)} orphan(s) younger than {args.min_age:g}s (pass --min-age 0 when no "
            "registration is running)"
        )
    print(f"gc: removed {len(report.removed)} orphan(s)")
    return 0


HANDLERS: dict[str, Callable[[Any, argparse.Namespace, Any], int]] = {
    "list": _list,
    "show": _show,
    "register": _register,
    "promote": _promote,
    "alias": _alias,
    "rollback": _rollback,
    "history": _history,
    "deployments": _deployments,
    "load": _load,
    "delete": _delete,
    "verify": _verify,
    "gc": _gc,
}


# --- formatting --------------------------------------------------------------


def _print_json(data: Any) -> int:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
    return 0


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[index]) for row in cells)]) for index, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def _when(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%d %H:%M:%S"))


def _metrics_text(metrics: Mapping[str, Mapping[str, float]]) -> str:
    return (
        " ".join(
            f"{split}.{name}={value:.4g}"
            for split, values in sorted(metrics.items())
            for name, value in sorted(values.items())
        )
        or "-"
    )


def _labels_text(labels: Mapping[str, Sequence[int]]) -> str:
    return (
        ", ".join(f"{label}={','.join(str(v) for v in versions)}" for label, versions in sorted(labels.items())) or "-"
    )


def _details_text(details: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(details.items())) or "-"


def _datasets_text(datasets: Mapping[str, Any]) -> str:
    parts = []
    for name, entry in sorted(datasets.items()):
        if isinstance(entry, Mapping):
            text = str(entry.get("fingerprint", ""))[:16]
            if entry.get("uri"):
                text += f" ({entry['uri']})"
            parts.append(f"{name}: {text}")
    return "; ".join(parts) or "-"


def _move_text(event: Any) -> str:
    if event.kind == "evaluated":
        return f"vs {event.from_version}" if event.from_version is not None else "vs none"
    if event.from_version is None and event.to_version is None:
        return "-"
    source = event.from_version if event.from_version is not None else "-"
    return f"{source} -> {event.to_version if event.to_version is not None else '-'}"


def _event_note(event: Any) -> str:
    """The reason, plus the gate's numbers: every check of an evaluation, the failed checks of a forced move."""
    notes = [event.reason] if event.reason else []
    if event.kind == "evaluated":
        checks = event.details.get("checks", [])
        shown = [check for check in checks if not check.get("passed")] or checks
        notes += [str(check.get("message")) for check in shown]
    elif event.forced and isinstance(event.details.get("decision"), Mapping):
        checks = event.details["decision"].get("checks", [])
        notes += ["forced past: " + str(check.get("message")) for check in checks if not check.get("passed")]
    return "; ".join(notes)
