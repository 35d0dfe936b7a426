"""The validation report: every expectation with its observed value and outcome, as JSON and as
a summary a person can read."""

from __future__ import annotations

from typing import Any

from mlops_declare.config.data import DataConfig
from mlops_declare.data.expectations import QUARANTINE_REASON, Validation

REPORT_FORMAT = "mlops_declare.validation/1"
OUTCOME_MARKS = {"passed": "ok  ", "warned": "WARN", "quarantined": "QUAR", "failed": "FAIL"}


def build_report(
    data: DataConfig, source: str, logical_date: str | None, validation: Validation, rows: dict[str, Any]
) -> dict[str, Any]:
    """The JSON report; `outcome` is the worst outcome over all expectations."""
    entries = [result.to_json() for result in validation.results]
    outcomes = {entry["outcome"] for entry in entries}
    overall = next((name for name in ("failed", "warned", "quarantined") if name in outcomes), "passed")
    return {
        "format": REPORT_FORMAT,
        "dataset": data.name,
        "source": source,
        "logical_date": logical_date,
        "outcome": overall,
        "rows": dict(rows),
        "expectations": entries,
        "quarantine": {"file": "quarantine.parquet", "reason_column": QUARANTINE_REASON}
        if rows.get("quarantined")
        else None,
    }


def render_summary(report: dict[str, Any]) -> str:
    """One line per expectation, then the row counts."""
    rows = report["rows"]
    lines = [f"validation of {report['dataset']!r} ({report['source']}): {report['outcome']}"]
    if not report["expectations"]:
        lines.append("  (no expectations declared)")
    for entry in report["expectations"]:
        column = f" {entry['column']!r}" if entry["column"] else ""
        noun = "missing value(s)" if entry["kind"] == "max_null_fraction" else "bad row(s)"
        # A quarantine check observes its bad-row count; say it once.
        repeated = bool(entry["bad_rows"]) and entry["observed"] == entry["bad_rows"]
        parts = [] if repeated else [f"observed {readable(entry['observed'])}"]
        if entry["bad_rows"]:
            parts.append(f"{entry['bad_rows']} {noun}")
        detail = ", ".join(parts)
        if entry["examples"]:
            detail += f", e.g. {', '.join(str(example) for example in entry['examples'])}"
        lines.append(
            f"  {OUTCOME_MARKS[entry['outcome']]} {entry['config_path']} {entry['kind']}{column} "
            f"[{entry['policy']}]: expected {entry['expected']}; {detail}"
        )
    counts = f"rows: {rows['source']} read, {rows['transformed']} after transforms, {rows['quarantined']} quarantined"
    if "splits" in rows:
        counts += ", splits " + ", ".join(f"{name} {count}" for name, count in rows["splits"].items())
    lines.append(counts)
    return "\n".join(lines)


def readable(observed: Any) -> str:
    """An observed value as a person reads it: `min 6.98, max 28.1` rather than a JSON object."""
    if isinstance(observed, float):
        return f"{observed:.6g}"
    if isinstance(observed, list):
        return "{" + ", ".join(str(item) for item in observed) + "}"
    if isinstance(observed, dict):
        shown = [f"{key} {readable(value)}" for key, value in observed.items() if key != "more"]
        return ", ".join(shown) + (", ..." if observed.get("more") else "")
    return str(observed)
