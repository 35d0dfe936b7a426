"""Data drift: every column of a current window against a reference profile, the dataset verdict,
multiple-testing correction, missing-share and unseen-category signals, and prediction drift.

`check_drift(profile, current, config)` executes the declaration `config.monitoring` holds and
returns a JSON-able dict (format `mlops_declare.drift/1`) that records, for every column, the
method (and whether `auto` chose it), the score and its kind, the threshold and the decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_declare.config.messages import suggest
from mlops_declare.config.monitoring import (
    CATEGORICAL_ONLY_METHODS,
    NUMERIC_ONLY_METHODS,
    P_VALUE_METHODS,
    MonitoringConfig,
)
from mlops_declare.data.profile import DISCRETE_LIMIT, CategoricalColumn, ImageColumn, NumericColumn, ReferenceProfile
from mlops_declare.monitor.errors import MonitoringError
from mlops_declare.monitor.methods import NumericInput, binned_shares, categorical_score, numeric_score, score_kind

DRIFT_FORMAT = "mlops_declare.drift/1"
UNSEEN_LISTED = 10
"""Unseen categories named per column in the result (the share counts them all)."""
THREADS = 4
PARALLEL_CELLS = 1_000_000
"""Below this many current values, columns are checked one after another (threads cost more than they save)."""


def check_drift(
    profile: ReferenceProfile,
    current: pa.Table,
    config: MonitoringConfig,
    prediction_column: str | None = None,
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Compare `current` with `profile` per `config`; prediction drift when `prediction_column` is given."""
    names = list(columns or config.drift.columns or profile.columns)
    _check_columns(names, profile, current)
    rows = current.num_rows
    result: dict[str, Any] = {
        "format": DRIFT_FORMAT,
        "reference": {"rows": profile.rows, "sample_rows": profile.sample_rows, "bins": profile.bins},
        "current": {"rows": rows},
        "config": config.drift.model_dump(mode="json"),
    }
    if rows < config.window.min_rows:
        result.update(
            status="insufficient_data",
            message=f"{rows} current row(s), fewer than monitoring.window.min_rows = {config.window.min_rows}; no verdict",
            columns=[],
            signals=[],
            dataset={
                "tested": 0,
                "drifted": 0,
                "drift_share": 0.0,
                "threshold": config.drift.drift_share,
                "dataset_drift": False,
                "correction": config.drift.correction,
            },
            prediction=None,
            multivariate={},
            drift=False,
        )
        return result

    def check(name: str) -> dict[str, Any]:
        return _check_column(name, profile.columns[name], current.column(name), config, profile.rows)

    if rows * len(names) < PARALLEL_CELLS:
        checked = [check(name) for name in names]
    else:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            checked = list(pool.map(check, names))
    _correct(checked, config)
    prediction = None
    if prediction_column is not None and profile.target is not None and prediction_column in current.column_names:
        prediction = _check_column(
            prediction_column, profile.target, current.column(prediction_column), config, profile.rows
        )
        prediction["column"] = "prediction"
        prediction["reference_column"] = profile.target.name
        _correct([prediction], config)
    tested = [column for column in checked if column["status"] == "tested"]
    drifted = [column["column"] for column in tested if column["drifted"]]
    share = len(drifted) / len(tested) if tested else 0.0
    signals = [signal for column in checked for signal in column.pop("_signals")]
    if prediction is not None:
        prediction.pop("_signals")
    dataset_drift = bool(tested) and share >= config.drift.drift_share
    from mlops_declare.monitor.multivariate import check_multivariate

    multivariate = check_multivariate(profile, current, names, config.multivariate)
    multivariate_drift = any(test.get("drifted") for test in multivariate.values())
    result.update(
        status="ok",
        columns=checked,
        signals=signals,
        dataset={
            "tested": len(tested),
            "drifted": len(drifted),
            "drifted_columns": drifted,
            "drift_share": share,
            "threshold": config.drift.drift_share,
            "dataset_drift": dataset_drift,
            "correction": config.drift.correction,
        },
        prediction=prediction,
        multivariate=multivariate,
    )
    result["drift"] = dataset_drift or multivariate_drift or bool(signals) or bool(prediction and prediction["drifted"])
    return result


def _check_columns(names: list[str], profile: ReferenceProfile, current: pa.Table) -> None:
    unknown = [name for name in names if name not in profile.columns]
    if unknown:
        raise MonitoringError(
            f"column {unknown[0]!r} is not in the reference profile{suggest(unknown[0], list(profile.columns))}; "
            f"profiled columns: {', '.join(sorted(profile.columns))}"
        )
    absent = [name for name in names if name not in current.column_names]
    if absent:
        raise MonitoringError(
            f"the current data has no column {absent[0]!r}{suggest(absent[0], current.column_names)} "
            f"({len(absent)} reference column(s) missing: {', '.join(absent[:10])})"
        )


def _choose(name: str, column_type: str, unique: int, reference_rows: int, config: MonitoringConfig) -> tuple[str, str]:
    """(method, who chose it): a per-column override, the type's method, or Evidently's auto rule."""
    override = config.drift.per_column.get(name)
    if override is not None and override.method != "auto":
        return override.method, "per_column"
    configured = config.drift.cat_method if column_type == "categorical" else config.drift.num_method
    if configured != "auto":
        return configured, "config"
    small = reference_rows <= config.drift.auto_switch_rows
    if column_type == "numeric" and unique > DISCRETE_LIMIT:
        return ("ks" if small else "wasserstein"), "auto"
    if small:
        return ("z" if unique <= 2 else "chisquare"), "auto"
    return "jensenshannon", "auto"


def _threshold(name: str, method: str, config: MonitoringConfig) -> float:
    override = config.drift.per_column.get(name)
    if override is not None and override.threshold is not None:
        return override.threshold
    return config.drift.p_value if method in P_VALUE_METHODS else config.drift.distance


def _numeric_values(column: pa.ChunkedArray, name: str) -> np.ndarray:
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type):
        # Images and sequences are compared through each row's mean (the profile's `image_mean`).
        flat = [np.nan if row is None or not row else float(np.mean(row)) for row in column.to_pylist()]
        return np.asarray(flat, dtype=np.float64)
    try:
        cast = column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise MonitoringError(
            f"column {name!r}: the reference is numeric but the current values are {column.type}; "
            "check the column holds the same feature"
        ) from None
    return np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)


def _category_counts(column: pa.ChunkedArray) -> tuple[dict[str, int], int]:
    strings = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
    counts = pc.value_counts(strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings)
    pairs: dict[str, int] = {}
    missing = 0
    for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
        if value is None:
            missing += int(count)
        else:
            pairs[value] = int(count)
    return pairs, missing


def _check_column(
    name: str,
    reference: NumericColumn | CategoricalColumn | ImageColumn,
    column: pa.ChunkedArray,
    config: MonitoringConfig,
    reference_rows: int,
) -> dict[str, Any]:
    if isinstance(reference, ImageColumn):
        reference = reference.image_mean
    if isinstance(reference, CategoricalColumn):
        return _check_categorical(name, reference, column, config, reference_rows)
    return _check_numeric(name, reference, column, config, reference_rows)


def _base(name: str, column_type: str, method: str, chosen_by: str, threshold: float) -> dict[str, Any]:
    return {
        "column": name,
        "type": column_type,
        "method": method,
        "chosen_by": chosen_by,
        "score_kind": score_kind(method),
        "threshold": threshold,
        "score": None,
        "p_value_adjusted": None,
        "drifted": False,
        "status": "tested",
    }


def _finish_score(entry: dict[str, Any], compute: Any) -> None:
    try:
        score = float(compute())
    except (ValueError, FloatingPointError, ZeroDivisionError) as exc:
        entry.update(status="undefined", message=f"{entry['method']} could not be computed: {exc}")
        return
    if not math.isfinite(score):
        entry.update(status="undefined", message=f"{entry['method']} gave no finite score on these values")
        return
    entry["score"] = score
    if entry["score_kind"] == "distance":
        entry["drifted"] = score > entry["threshold"]


def _check_numeric(
    name: str, reference: NumericColumn, column: pa.ChunkedArray, config: MonitoringConfig, reference_rows: int
) -> dict[str, Any]:
    values = _numeric_values(column, name)
    finite = np.isfinite(values)
    present = values[finite]
    total = int(values.size)
    current_missing = (total - int(present.size)) / total if total else 0.0
    unique = len(reference.values) if reference.values is not None else DISCRETE_LIMIT + 1
    method, chosen_by = _choose(name, "numeric", unique, reference_rows, config)
    entry = _base(name, "numeric", method, chosen_by, _threshold(name, method, config))
    entry.update(
        reference_missing_share=reference.missing_share,
        current_missing_share=current_missing,
        current_infinite=int(np.count_nonzero(np.isinf(values))),
    )
    signals = _missing_signal(name, reference.missing_share, current_missing, config)
    entry["_signals"] = signals
    sample = reference.sample_values()
    if method in CATEGORICAL_ONLY_METHODS and reference.values is None:
        raise MonitoringError(
            f"monitoring.drift: method {method!r} needs categories, but numeric column {name!r} has more than "
            f"{DISCRETE_LIMIT} distinct values; use ks, wasserstein, anderson, cramer_von_mises or a binned distance"
        )
    if present.size == 0 or reference.histogram is None or sample.size == 0:
        entry.update(status="no_values", message="no finite values on one side; see the missing-share signal")
        return entry
    if method in CATEGORICAL_ONLY_METHODS:
        assert reference.values is not None
        keys = list(reference.values)
        distinct, counts = np.unique(present, return_counts=True)
        current_counts = {repr(float(value)): int(count) for value, count in zip(distinct, counts, strict=True)}
        keys += [key for key in current_counts if key not in reference.values]
        ref = np.array([reference.values.get(key, 0) for key in keys], dtype=np.float64)
        cur = np.array([current_counts.get(key, 0) for key in keys], dtype=np.float64)
        if method == "z" and len(keys) > 2:
            method = "chisquare"
            entry.update(method=method, message="z needs a binary column; chi-square used")
        _finish_score(entry, lambda: categorical_score(method, ref, cur))
    else:
        need = {"anderson": 2, "cramer_von_mises": 2}.get(method, 1)
        if present.size < need or sample.size < need:
            entry.update(status="too_few_values", message=f"{method} needs at least {need} values on each side")
            return entry
        data = NumericInput(
            reference_sample=sample,
            reference_std=float(reference.std or 0.0),
            edges=np.asarray(reference.histogram.edges, dtype=np.float64),
            reference_counts=np.asarray(reference.histogram.counts, dtype=np.float64),
            current=present,
        )
        _finish_score(entry, lambda: numeric_score(method, data))
        reference_shares, current_shares = binned_shares(data)
        entry["distribution"] = {
            "edges": [float(edge) for edge in data.edges],
            "reference": [float(share) for share in reference_shares],
            "current": [float(share) for share in current_shares],
        }
    with np.errstate(over="ignore", invalid="ignore"):
        current_mean = float(np.mean(present))
    entry["current_mean"] = current_mean if math.isfinite(current_mean) else None
    entry["reference_mean"] = reference.mean
    return entry


def _check_categorical(
    name: str, reference: CategoricalColumn, column: pa.ChunkedArray, config: MonitoringConfig, reference_rows: int
) -> dict[str, Any]:
    counts, missing = _category_counts(column)
    total = sum(counts.values()) + missing
    current_missing = missing / total if total else 0.0
    method, chosen_by = _choose(name, "categorical", reference.unique, reference_rows, config)
    if method in NUMERIC_ONLY_METHODS:
        raise MonitoringError(
            f"monitoring.drift: method {method!r} is for numeric columns; {name!r} is categorical "
            "(use chisquare, z, jensenshannon, psi, hellinger or kl_div)"
        )
    entry = _base(name, "categorical", method, chosen_by, _threshold(name, method, config))
    entry.update(reference_missing_share=reference.missing_share, current_missing_share=current_missing)
    signals = _missing_signal(name, reference.missing_share, current_missing, config)
    present = sum(counts.values())
    unseen = {value: count for value, count in counts.items() if value not in reference.counts}
    unseen_share = sum(unseen.values()) / present if present else 0.0
    entry["unseen_share"] = unseen_share
    entry["unseen_categories"] = sorted(unseen, key=lambda value: -unseen[value])[:UNSEEN_LISTED]
    if unseen and unseen_share > config.drift.signals.unseen_share:
        signals.append(
            {
                "column": name,
                "kind": "unseen_categories",
                "value": unseen_share,
                "threshold": config.drift.signals.unseen_share,
                "categories": entry["unseen_categories"],
            }
        )
    entry["_signals"] = signals
    if present == 0 or not reference.counts:
        entry.update(status="no_values", message="no values on one side; see the missing-share signal")
        return entry
    keys = list(reference.counts) + sorted(unseen)
    ref = np.array([reference.counts.get(key, 0) for key in keys], dtype=np.float64)
    cur = np.array([counts.get(key, 0) for key in keys], dtype=np.float64)
    if method == "z" and len(keys) > 2:
        method = "chisquare"
        entry.update(method=method, message="z needs a binary column; chi-square used")
    _finish_score(entry, lambda: categorical_score(method, ref, cur))
    shown = keys[:30]
    entry["distribution"] = {
        "categories": shown,
        "reference": [float(ref[index] / ref.sum()) for index in range(len(shown))],
        "current": [float(cur[index] / cur.sum()) for index in range(len(shown))],
    }
    return entry


def _missing_signal(name: str, reference: float, current: float, config: MonitoringConfig) -> list[dict[str, Any]]:
    change = current - reference
    if abs(change) > config.drift.signals.missing_share_change:
        return [
            {
                "column": name,
                "kind": "missing_share_change",
                "value": change,
                "threshold": config.drift.signals.missing_share_change,
                "reference": reference,
                "current": current,
            }
        ]
    return []


def _correct(columns: list[dict[str, Any]], config: MonitoringConfig) -> None:
    """Adjust p-values across the tested p-value columns (bonferroni or Benjamini-Hochberg), then decide."""
    tested = [column for column in columns if column["status"] == "tested" and column["score_kind"] == "p_value"]
    if not tested:
        return
    raw = np.array([column["score"] for column in tested], dtype=np.float64)
    correction = config.drift.correction
    if correction == "bonferroni":
        adjusted = np.minimum(1.0, raw * len(raw))
    elif correction == "fdr_bh":
        from scipy.stats import false_discovery_control

        adjusted = np.minimum(1.0, false_discovery_control(raw, method="bh"))
    else:
        adjusted = raw
    for column, value in zip(tested, adjusted, strict=True):
        column["p_value_adjusted"] = float(value)
        column["drifted"] = bool(value < column["threshold"])
