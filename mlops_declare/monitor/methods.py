"""Per-column drift statistics (scipy), each with its score kind and default threshold.

Numeric two-sample tests compare the reference sample with the current values; binned distances
compare the reference histogram with the current values counted in the same bins (plus one open
bin on each side for values outside the reference range); categorical methods compare category
counts. Every function returns a finite float: degenerate inputs (constant, identical, tiny) get
defined answers instead of NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlops_declare.config.monitoring import P_VALUE_METHODS
from mlops_declare.data.profile import uniform_counts

EPSILON = 1e-4
"""Share given to an empty bin by PSI and KL divergence (Evidently clips at the same value)."""
MAX_CURRENT_FOR_RANK_TESTS = 50_000
"""Sort-based tests (KS, Anderson, Cramér-von Mises, Wasserstein) draw at most this many current values
(the reference side is a sample of at most `monitoring.drift.sample_size`, which bounds their precision anyway)."""
KS_EXACT_BELOW = 300
"""KS uses scipy's exact p-value when either side has fewer values than this, the asymptotic one otherwise."""
WASSERSTEIN_MIN_STD = 0.001
"""Normed Wasserstein divides by max(reference std, this), as Evidently does."""


def score_kind(method: str) -> str:
    """`p_value` (drift when below the threshold) or `distance` (drift when above)."""
    return "p_value" if method in P_VALUE_METHODS else "distance"


@dataclass(frozen=True)
class NumericInput:
    """A numeric column: reference sample and histogram, current finite values."""

    reference_sample: np.ndarray
    reference_std: float
    edges: np.ndarray
    reference_counts: np.ndarray
    current: np.ndarray


def _ranked_current(current: np.ndarray) -> np.ndarray:
    if current.size <= MAX_CURRENT_FOR_RANK_TESTS:
        return current
    # Drawn with replacement: as good for these tests, and without the full permutation `replace=False` costs.
    rng = np.random.default_rng(0)
    return current[rng.integers(0, current.size, MAX_CURRENT_FOR_RANK_TESTS)]


def binned_shares(data: NumericInput) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares over the reference bins plus an open bin below and above."""
    edges = data.edges
    # The profile's bins are equal-width, so a bin index is arithmetic, not a binary search.
    current_counts = uniform_counts(data.current, float(edges[0]), float(edges[-1]), len(edges) - 1).astype(np.float64)
    reference_counts = np.concatenate([[0.0], data.reference_counts.astype(np.float64), [0.0]])
    return _shares(reference_counts), _shares(current_counts)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.full(counts.shape, 1.0 / max(counts.size, 1))


def ks(data: NumericInput) -> float:
    from scipy.stats import ks_2samp

    current = _ranked_current(data.current)
    # The exact distribution costs milliseconds per column from a few hundred rows on, where the
    # asymptotic one is already accurate to well below the thresholds in use.
    method = "asymp" if min(current.size, data.reference_sample.size) >= KS_EXACT_BELOW else "auto"
    return float(ks_2samp(data.reference_sample, current, method=method).pvalue)


def wasserstein(data: NumericInput) -> float:
    from scipy.stats import wasserstein_distance

    distance = wasserstein_distance(data.reference_sample, _ranked_current(data.current))
    return float(distance / max(data.reference_std, WASSERSTEIN_MIN_STD))


def anderson(data: NumericInput) -> float:
    from scipy.stats import anderson_ksamp

    current = _ranked_current(data.current)
    pooled = np.concatenate([data.reference_sample, current])
    if np.all(pooled == pooled[0]):
        return 1.0
    with warnings.catch_warnings():
        # scipy caps the p-value to [0.001, 0.25] and warns when it does; the cap is documented.
        warnings.simplefilter("ignore")
        return float(anderson_ksamp([data.reference_sample, current]).pvalue)


def cramer_von_mises(data: NumericInput) -> float:
    from scipy.stats import cramervonmises_2samp

    current = _ranked_current(data.current)
    if np.all(data.reference_sample == data.reference_sample[0]) and np.all(current == data.reference_sample[0]):
        return 1.0
    return float(cramervonmises_2samp(data.reference_sample, current).pvalue)


def jensenshannon_shares(reference: np.ndarray, current: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon as js

    value = float(js(reference, current))
    return value if math.isfinite(value) else 0.0


def psi_shares(reference: np.ndarray, current: np.ndarray) -> float:
    p, q = np.clip(reference, EPSILON, None), np.clip(current, EPSILON, None)
    return float(np.sum((q - p) * np.log(q / p)))


def kl_div_shares(reference: np.ndarray, current: np.ndarray) -> float:
    p, q = np.clip(reference, EPSILON, None), np.clip(current, EPSILON, None)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def hellinger_shares(reference: np.ndarray, current: np.ndarray) -> float:
    difference = np.sqrt(reference) - np.sqrt(current)
    return float(min(1.0, math.sqrt(max(0.0, 0.5 * float(np.sum(difference * difference))))))


SHARE_DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "jensenshannon": jensenshannon_shares,
    "psi": psi_shares,
    "kl_div": kl_div_shares,
    "hellinger": hellinger_shares,
}
"""Distances between two share vectors over the same bins or categories."""

NUMERIC_TESTS: dict[str, Callable[[NumericInput], float]] = {
    "ks": ks,
    "wasserstein": wasserstein,
    "anderson": anderson,
    "cramer_von_mises": cramer_von_mises,
}
"""Numeric methods on raw values (the share distances run on `binned_shares`)."""

MIN_VALUES: dict[str, int] = {"ks": 1, "wasserstein": 1, "anderson": 2, "cramer_von_mises": 2}
"""Values each side needs before a numeric test means anything."""


def numeric_score(method: str, data: NumericInput) -> float:
    """The method's score for a numeric column."""
    if method in SHARE_DISTANCES:
        return SHARE_DISTANCES[method](*binned_shares(data))
    return NUMERIC_TESTS[method](data)


def chisquare_counts(reference: np.ndarray, current: np.ndarray) -> float:
    """p-value of the chi-square test of homogeneity on the 2 x k table of counts."""
    from scipy.stats import chi2_contingency

    table = np.vstack([reference, current]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def z_counts(reference: np.ndarray, current: np.ndarray) -> float:
    """p-value of the two-proportion z-test on the first category's share (binary columns)."""
    from scipy.stats import norm

    n1, n2 = float(reference.sum()), float(current.sum())
    if n1 == 0 or n2 == 0:
        return 1.0
    p1, p2 = reference[0] / n1, current[0] / n2
    pooled = (reference[0] + current[0]) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0 if p1 == p2 else 0.0
    return float(2 * norm.sf(abs(p1 - p2) / spread))


def categorical_score(method: str, reference: np.ndarray, current: np.ndarray) -> float:
    """The method's score for category counts aligned over the same categories."""
    if method == "chisquare":
        return chisquare_counts(reference, current)
    if method == "z":
        return z_counts(reference, current)
    return SHARE_DISTANCES[method](_shares(reference.astype(np.float64)), _shares(current.astype(np.float64)))
