"""Foundation verbs: init, validate, compile, plan, schema, run."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Filled in by the foundation work."""
