"""`mlops-declare serve [REF]` (BentoML on the compiled project) and `mlops-declare build [REF]` (a bento)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mlops_declare.cli import add_config_arguments

SERVE_FOLDER = "serve"
"""Under project.home: service projects compiled with the command line's REF and overrides, one folder per service fingerprint."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = subparsers.add_parser(
        "serve",
        help="serve a registered model with BentoML (default serving.model)",
        description="Serve REF (default serving.model, e.g. breast_cancer@production) with `bentoml serve`; "
        "the service follows the stage or alias and swaps in new versions live.",
    )
    _reference(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default serving.port)")
    add_config_arguments(serve)
    serve.set_defaults(handler=run_serve)
    build = subparsers.add_parser(
        "build",
        help="build a bento: service, verified model package, pinned requirements, Dockerfile",
        description="Build the bento of REF (default serving.model) from plan.json and the committed service folder "
        "(run `mlops-declare compile` first); `bentoml serve` then needs no project folder. Bentos go to "
        "serving.bento_store (default <project.home>/bentos, a BentoML home).",
    )
    _reference(build)
    build.add_argument("--json", action="store_true", help="print the result as JSON")
    add_config_arguments(build)
    build.set_defaults(handler=run_build)


def _reference(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        dest="reference",
        default=None,
        metavar="REF",
        help="NAME@STAGE_OR_ALIAS, NAME:VERSION or NAME:latest (default serving.model); "
        "a first positional argument without '=' is taken as REF too",
    )


def _split_reference(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    overrides = list(args.overrides)
    reference = args.reference
    if overrides and "=" not in overrides[0]:
        reference = reference or overrides.pop(0)
    return reference, overrides


def run_serve(args: argparse.Namespace) -> int:
    """Compile the service with this command line's REF and overrides (in memory), write it under the project
    home and exec `bentoml serve` on it: the service gets its spec and MLOPS_DECLARE_PROJECT_ROOT, nothing else."""
    from mlops_declare.atomic import write_text_atomic
    from mlops_declare.compiler import compile_outputs
    from mlops_declare.config import load_config
    from mlops_declare.contracts.environment import PROJECT_ROOT
    from mlops_declare.registry import open_registry
    from mlops_declare.serve.bento import bento_store, resolve_served

    reference, overrides = _split_reference(args)
    if reference is not None:
        overrides.append(f"serving.model={reference}")
    root = Path(args.config_dir).resolve().parent
    loaded = load_config(args.config_dir, overrides)
    plan, files = compile_outputs(loaded)
    spec = plan.service
    with open_registry(loaded.config.registry, root, read_only=True) as registry:
        record = resolve_served(registry, spec.model)
    target = loaded.config.project.home_path(root) / SERVE_FOLDER / spec.fingerprint[:12] / spec.directory
    target.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        if path.startswith(f"{spec.directory}/"):
            write_text_atomic(target / Path(path).name, text)
    # BENTOML_HOME: what BentoML itself keeps (its stores) goes to the project's, not the global ~/bentoml.
    env = {**os.environ, PROJECT_ROOT: str(root), "BENTOML_HOME": str(bento_store(loaded.config, root))}
    port = args.port or spec.port
    print(f"serving {spec.model} (now {record.ref}) on http://{args.host}:{port}", file=sys.stderr)
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        f"service:{spec.class_name}",
        "--working-dir",
        str(target),
        "--host",
        args.host,
        "--port",
        str(port),
    ]
    sys.stderr.flush()
    os.execve(sys.executable, command, env)  # bentoml serve takes over this process, signals included
    return 0


def run_build(args: argparse.Namespace) -> int:
    """Build the bento of REF from the project's plan.json and its committed service folder (nothing is compiled)."""
    from mlops_declare.config import load_snapshot
    from mlops_declare.contracts.plan import PLAN_FILE, read_plan
    from mlops_declare.errors import MlopsDeclareError
    from mlops_declare.serve import build_bento
    from mlops_declare.serve.bento import bento_store

    reference, overrides = _split_reference(args)
    if overrides:
        raise MlopsDeclareError(
            f"build uses the compiled {PLAN_FILE}, not overrides: run `mlops-declare compile {' '.join(overrides)}` "
            "first, then `mlops-declare build`"
        )
    root = Path(args.config_dir).resolve().parent
    plan = read_plan(root / PLAN_FILE)
    loaded = load_snapshot(plan.config)
    built = build_bento(plan, loaded, root, reference)
    store = bento_store(loaded.config, root)
    if args.json:
        result = {
            "tag": built.tag,
            "version": built.version,
            "model": built.model,
            "path": str(built.path),
            "newly_built": built.newly_built,
            "bento_store": str(store),
        }
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"{'built' if built.newly_built else 'already built:'} bento {built.tag} serving {built.model}")
        print(f"  path: {built.path}")
        print(f"  serve it: BENTOML_HOME={store} bentoml serve {built.tag}   (or: bentoml serve {built.path})")
        print(f"  container: BENTOML_HOME={store} bentoml containerize {built.tag}")
    return 0
