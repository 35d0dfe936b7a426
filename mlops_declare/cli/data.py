"""`mlops-declare data`: ingest, transform, validate and split the configured dataset, and show
the inferred schema, the validation summary and where everything was written."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from mlops_declare.atomic import replace_directory
from mlops_declare.cli import add_config_arguments


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "data",
        help="ingest, transform, validate and split the data; writes Parquet + report + reference profile",
        description=(
            "Prepare the `data` group's dataset under <project.home>/data/<name>/<fingerprint>: "
            "split Parquet files, preprocessing.json, profile.json, report.json/report.txt, metadata.json."
        ),
    )
    add_config_arguments(parser)
    parser.add_argument("--logical-date", default=None, help="YYYY-MM-DD that `{ds}` in source paths stands for")
    parser.add_argument("--output-dir", default=None, help="write the dataset here instead of <project.home>/data/...")
    parser.set_defaults(handler=run_data)


def run_data(args: argparse.Namespace) -> int:
    from mlops_declare.config import load_config
    from mlops_declare.data import DataValidationError, prepare_dataset
    from mlops_declare.project import project_root_for

    loaded = load_config(args.config_dir, args.overrides)
    data = loaded.config.data
    root = project_root_for(args.config_dir)
    home = loaded.config.project.home_path(root)
    datasets = home / "data" / data.name
    incoming = Path(args.output_dir) if args.output_dir else datasets / f".incoming-{uuid.uuid4().hex[:8]}"
    try:
        prepared = prepare_dataset(data, incoming, logical_date=args.logical_date, project_root=root)
    except DataValidationError as exc:
        print(exc.summary, file=sys.stderr)
        from mlops_declare.atomic import write_json_atomic

        rejected = datasets / "rejected.json"
        write_json_atomic(rejected, exc.report)
        print(f"report: {rejected}", file=sys.stderr)
        raise
    directory = prepared.directory if args.output_dir else _settle(incoming, datasets / prepared.fingerprint[:12])
    _print_outcome(directory, prepared.fingerprint)
    return 0


def _settle(incoming: Path, final: Path) -> Path:
    """Content-addressed: the same data and preprocessing always land in the same folder; the
    newest preparation replaces an older one there, so its report reflects the current expectations."""
    replace_directory(incoming, final)
    return final


def _print_outcome(directory: Path, fingerprint: str) -> None:
    metadata: dict[str, Any] = json.loads((directory / "metadata.json").read_text(encoding="utf-8"))
    print(f"dataset {metadata['name']!r} from {metadata['source']['kind']} source {metadata['source']['location']}")
    print("schema (declared roles kept, the rest inferred):")
    width = max(len(column["name"]) for column in metadata["schema"])
    for column in metadata["schema"]:
        role = column["role"] + (f" ({column['feature_type']})" if column["feature_type"] else "")
        how = "declared" if column["declared"] else (column["note"] or "inferred")
        print(f"  {column['name']:<{width}}  {column['type']:<12} {role:<24} {how}")
    if metadata["target"]:
        classes = f", classes {metadata['class_names']}" if metadata["class_names"] else ""
        print(f"target {metadata['target']!r}: {metadata['task_hint']}{classes}")
    print((directory / "report.txt").read_text(encoding="utf-8").rstrip())
    print(f"fingerprint {fingerprint}")
    print(f"written to {directory}:")
    for name in sorted(path.name for path in directory.iterdir()):
        print(f"  {name}")
