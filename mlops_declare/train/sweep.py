"""Hydra-style multirun: expand sweep overrides (`a=1,2 b=x,y`) into combinations and rank finished runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlops_declare.errors import ConfigError, ConfigIssue
from mlops_declare.train.checks import higher_is_better

COMMAND_LINE = "command line"
MAX_COMBINATIONS = 256


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """Every combination of the sweep overrides, in Hydra BasicSweeper order (cartesian product, left to right)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    issues = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except OverrideParseException as exc:
            reason = str(exc).strip().split("\n")[0]
            issues.append(ConfigIssue(COMMAND_LINE, text, f"bad override syntax ({reason})"))
    if issues:
        raise ConfigError(issues)
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    combinations = [list(combination) for batch in batches for combination in batch]
    if len(combinations) > MAX_COMBINATIONS:
        raise ConfigError(
            [
                ConfigIssue(
                    COMMAND_LINE, "-m", f"the sweep has {len(combinations)} combinations; at most {MAX_COMBINATIONS}"
                )
            ]
        )
    return combinations


def sweep_changes(combination: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """The overrides of one combination that come from a sweep (what tells the runs apart)."""
    fixed = set(overrides)
    return [override for override in combination if override not in fixed]


def rank_runs(rows: list[dict[str, Any]], objective: str) -> list[dict[str, Any]]:
    """Finished runs best first by `objective` on the validation split; failed runs last."""
    higher = higher_is_better(objective)

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = row.get("metrics", {}).get("val", {}).get(objective)
        if value is None or not math.isfinite(value):
            return (1, 0.0)
        return (0, -value if higher else value)

    return sorted(rows, key=key)


def render_sweep_table(rows: list[dict[str, Any]], objective: str) -> str:
    """One line per run: rank, objective, the swept overrides, where the package is (or why it failed)."""
    higher = "higher" if higher_is_better(objective) else "lower"
    lines = [
        f"sweep ranked by val {objective} ({higher} is better)",
        f"  {'#':>2}  {'val ' + objective:>14}  overrides",
    ]
    for rank, row in enumerate(rank_runs(rows, objective), start=1):
        value = row.get("metrics", {}).get("val", {}).get(objective)
        shown = f"{value:.4f}" if isinstance(value, float) else "failed"
        where = row.get("package_dir") or row.get("error", "")
        lines.append(f"  {rank:>2}  {shown:>14}  {' '.join(row['overrides']) or '(defaults)'}  -> {where}")
    return "\n".join(lines)
