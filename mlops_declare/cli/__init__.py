"""The `mlops-declare` command: one module per group of verbs, each registering its subcommands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from mlops_declare.contracts.environment import FULL_ERROR, VERBOSE
from mlops_declare.errors import ConfigError, MlopsDeclareError

COMMAND_MODULES: tuple[str, ...] = (
    "mlops_declare.cli.core",
    "mlops_declare.cli.data",
    "mlops_declare.cli.train",
    "mlops_declare.cli.registry",
    "mlops_declare.cli.serve",
    "mlops_declare.cli.monitor",
)
"""Modules with a `register(subparsers)` function; each verb's heavy imports happen in its handler."""

FULL_ERROR_VARIABLE = FULL_ERROR


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config-dir and Hydra overrides, shared by every verb that reads the config."""
    parser.add_argument(
        "--config-dir",
        default="conf",
        help="directory holding config.yaml and the group folders (default: ./conf)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show the output of the libraries underneath (Lightning's accelerator lines, tips, warnings)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra overrides, e.g. trainer.precision=bf16-mixed experiment=digits_cnn",
    )


def build_parser() -> argparse.ArgumentParser:
    from mlops_declare import __version__

    parser = argparse.ArgumentParser(
        prog="mlops-declare",
        description="Validate, compile and run an ML system described by a Hydra YAML tree (./conf).",
    )
    parser.add_argument("--version", action="version", version=f"mlops-declare {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        os.environ[VERBOSE] = "1"  # read by mlops_declare.train.quiet, inherited by workers
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        # Config errors are already one line per problem: file, YAML path, message.
        if os.environ.get(FULL_ERROR_VARIABLE) == "1":
            traceback.print_exc()
        print(exc, file=sys.stderr)
        return 2
    except MlopsDeclareError as exc:
        if os.environ.get(FULL_ERROR_VARIABLE) == "1":
            traceback.print_exc()
        else:
            print(f"error: {exc}", file=sys.stderr)
            print(f"(set {FULL_ERROR_VARIABLE}=1 for a traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
