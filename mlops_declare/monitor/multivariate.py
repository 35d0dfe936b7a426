"""Multivariate drift, for shifts no single column shows (clusters that move while the marginals
hold, changed correlations): a domain-classifier test and PCA reconstruction error.

Domain classifier: a gradient-boosted classifier learns to tell reference rows from current rows
on half of them; its AUROC on the other half is compared with the AUROCs of the same held-out
scores under permuted labels (the null distribution), so the threshold is calibrated per run.
Drift needs both significance (above the (1 - alpha) permutation quantile) and an effect size
(`min_auroc`). Reconstruction error: as NannyML's data reconstruction drift, standardised numeric
features are projected on the principal components that keep `variance` of the reference variance
and back; the mean Euclidean error of the current rows is compared with mean +- `sigmas` standard
deviations of the errors of reference chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from mlops_declare.config.monitoring import Multivariate
from mlops_declare.data.profile import CategoricalColumn, ImageColumn, NumericColumn, ReferenceProfile

SEED = 0
MIN_ROWS = 20
"""Fewer rows on either side: the multivariate tests report `too_few_rows` instead of a verdict."""


def encode(
    profile: ReferenceProfile, current: pa.Table, columns: Sequence[str], max_rows: int
) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Reference sample rows and (at most `max_rows`) current rows as float matrices; categories as codes."""
    rng = np.random.default_rng(SEED)
    rows = current.num_rows
    picked = np.arange(rows) if rows <= max_rows else np.sort(rng.choice(rows, max_rows, replace=False))
    table = current.take(pa.array(picked))
    reference: list[np.ndarray] = []
    present: list[np.ndarray] = []
    numeric: list[bool] = []
    for name in columns:
        column = profile.columns[name]
        if isinstance(column, ImageColumn):
            continue
        if isinstance(column, NumericColumn):
            reference.append(
                np.array([np.nan if value is None else value for value in column.sample], dtype=np.float64)
            )
            values = table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
            present.append(np.where(np.isfinite(values), values, np.nan).astype(np.float64))
            numeric.append(True)
        elif isinstance(column, CategoricalColumn):
            codes = {value: index for index, value in enumerate(column.counts)}
            unseen = float(len(codes))
            reference.append(
                np.array([np.nan if v is None else codes.get(v, unseen) for v in column.sample], dtype=np.float64)
            )
            strings = table.column(name).cast(pa.string()).to_pylist()
            present.append(np.array([np.nan if v is None else codes.get(v, unseen) for v in strings], dtype=np.float64))
            numeric.append(False)
    if not reference:
        return np.empty((0, 0)), np.empty((0, 0)), []
    return np.column_stack(reference), np.column_stack(present), numeric


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = int(labels.sum())
    negatives = labels.size - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def domain_classifier(reference: np.ndarray, current: np.ndarray, config: Multivariate) -> dict[str, Any]:
    """AUROC of telling current from reference on held-out rows, with a permutation-calibrated threshold."""
    settings = config.domain_classifier
    result: dict[str, Any] = {"method": "domain_classifier", "score_kind": "auroc", "min_auroc": settings.min_auroc}
    if reference.shape[0] < MIN_ROWS or current.shape[0] < MIN_ROWS or reference.shape[1] == 0:
        return {**result, "status": "too_few_rows", "score": None, "threshold": None, "drifted": False}
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(SEED)
    features = np.vstack([reference, current])
    labels = np.concatenate([np.zeros(reference.shape[0], dtype=np.int64), np.ones(current.shape[0], dtype=np.int64)])
    order = rng.permutation(labels.size)
    half = labels.size // 2
    train, test = order[:half], order[half:]
    if labels[train].min() == labels[train].max() or labels[test].min() == labels[test].max():
        return {**result, "status": "too_few_rows", "score": None, "threshold": None, "drifted": False}
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(
        max_iter=60, max_leaf_nodes=15, learning_rate=0.1, early_stopping=False, random_state=SEED
    )
    # OpenMP threads on a busy machine spin against each other: one thread is 10-50x faster here.
    with threadpool_limits(limits=1):
        model.fit(features[train], labels[train])
        scores = model.predict_proba(features[test])[:, 1]
    observed = _auroc(scores, labels[test])
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = int(labels[test].sum())
    negatives = ranks.size - positives
    # Permuting the held-out labels: positives are a random subset of the ranks each time.
    keys = rng.random((settings.permutations, ranks.size))
    chosen = np.argpartition(keys, positives, axis=1)[:, :positives]
    permuted = (ranks[chosen].sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    threshold = float(np.quantile(permuted, 1 - settings.alpha))
    p_value = float((1 + np.count_nonzero(permuted >= observed)) / (1 + permuted.size))
    drifted = observed > threshold and observed >= settings.min_auroc
    return {
        **result,
        "status": "tested",
        "score": observed,
        "threshold": threshold,
        "p_value": p_value,
        "drifted": bool(drifted),
        "held_out_rows": int(test.size),
    }


def reconstruction_error(
    reference: np.ndarray, current: np.ndarray, numeric: list[bool], config: Multivariate
) -> dict[str, Any]:
    """PCA reconstruction error of the current rows against reference chunks' band."""
    settings = config.reconstruction
    result: dict[str, Any] = {"method": "reconstruction_error", "score_kind": "error"}
    mask = np.array(numeric, dtype=bool)
    if mask.sum() < 2 or reference.shape[0] < max(MIN_ROWS, settings.chunks * 2) or current.shape[0] < MIN_ROWS:
        return {
            **result,
            "status": "too_few_rows" if mask.sum() >= 2 else "too_few_columns",
            "score": None,
            "threshold": None,
            "drifted": False,
        }
    ref, cur = reference[:, mask], current[:, mask]
    mean = np.nanmean(np.where(np.isfinite(ref), ref, np.nan), axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    ref = np.where(np.isnan(ref), mean, ref)
    cur = np.where(np.isnan(cur), mean, cur)
    std = ref.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    ref_z, cur_z = (ref - mean) / std, (cur - mean) / std
    _, singular, vectors = np.linalg.svd(ref_z - ref_z.mean(axis=0), full_matrices=False)
    explained = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-12)
    components = int(np.searchsorted(explained, settings.variance) + 1)
    basis = vectors[:components].T
    centre = ref_z.mean(axis=0)

    def errors(matrix: np.ndarray) -> np.ndarray:
        centred = matrix - centre
        residual = centred - centred @ basis @ basis.T
        result: np.ndarray = np.sqrt(np.sum(residual * residual, axis=1))
        return result

    chunk_errors = np.array([float(np.mean(errors(chunk))) for chunk in np.array_split(ref_z, settings.chunks)])
    low = float(chunk_errors.mean() - settings.sigmas * chunk_errors.std())
    high = float(chunk_errors.mean() + settings.sigmas * chunk_errors.std())
    observed = float(np.mean(errors(cur_z)))
    return {
        **result,
        "status": "tested",
        "score": observed,
        "threshold": high,
        "lower_threshold": low,
        "components": components,
        "reference_error": float(chunk_errors.mean()),
        "drifted": bool(observed > high or observed < low),
    }


def check_multivariate(
    profile: ReferenceProfile, current: pa.Table, columns: Sequence[str], config: Multivariate
) -> dict[str, Any]:
    """Both multivariate tests, each only when enabled; {} when neither is."""
    if not (config.domain_classifier.enabled or config.reconstruction.enabled):
        return {}
    reference, present, numeric = encode(profile, current, columns, config.domain_classifier.max_rows)
    result: dict[str, Any] = {}
    if config.domain_classifier.enabled:
        result["domain_classifier"] = domain_classifier(reference, present, config)
    if config.reconstruction.enabled:
        result["reconstruction"] = reconstruction_error(reference, present, numeric, config)
    return result
