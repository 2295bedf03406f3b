"""Scores for binary truth probes: accuracy, AUROC, Brier, calibration error and bootstrap CIs.

Calibration convention (``kind="positive"``, the default): ECE and MCE compare the predicted
probability of the positive class (label 1 = true) with the empirical frequency of label 1 in
each bin. ``kind="top_label"`` is Guo et al. (2017): the confidence of the predicted class,
``max(p, 1 - p)``, against the fraction of correct predictions (prediction = ``p > 0.5``).

Bins: ``strategy="uniform"`` uses ``n_bins`` equal-width bins on [0, 1], right-closed
``(lo, hi]`` with 0 falling in the first bin; ``strategy="quantile"`` sorts the scores and splits
them into ``n_bins`` groups of equal size (sizes differ by at most one; tied scores may land in
neighbouring bins). ECE = sum over non-empty bins of ``count / n * |frequency - confidence|``;
MCE = the largest ``|frequency - confidence|`` over non-empty bins. Labels for Brier, ECE, MCE
and the reliability diagram may be soft (in [0, 1]); accuracy and AUROC need 0/1 labels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from jaxtyping import Float, Real
from scipy.stats import rankdata

from veracity.constraints import FRACTION, check_value
from veracity.probes.validation import Array, check_binary_labels, check_soft_labels

__all__ = [
    "ConfidenceInterval", "ReliabilityDiagram", "accuracy", "auroc", "bootstrap_accuracy_auroc", "bootstrap_ci", "brier",
    "ece", "mce", "reliability_diagram", "sample_mean",
]

logger = logging.getLogger(__name__)


def _vector(x: Array, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _probs_and_labels(probs: Array, labels: Array, soft: bool) -> tuple[np.ndarray, np.ndarray]:
    p = _vector(probs, "probs")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("probs must lie in [0, 1]: pass probabilities, not logits")
    check = check_soft_labels if soft else check_binary_labels
    return p, check(labels, n=p.size, require_both=False, name="labels").numpy()


def accuracy(probs: Float[Array, " n"], labels: Real[Array, " n"], threshold: float = 0.5) -> float:
    """Fraction of examples where ``probs > threshold`` equals the 0/1 label.

    Args:
        probs: P(true) per example (hard 0/1 predictions also work).
        labels: 0/1 labels.
        threshold: Decision threshold.

    Returns:
        Accuracy in [0, 1].

    Example:
        >>> accuracy([0.9, 0.2, 0.6], [1, 0, 0])
        0.6666666666666666
    """
    p, y = _probs_and_labels(probs, labels, soft=False)
    return float(np.mean((p > threshold) == (y == 1)))


def auroc(scores: Float[Array, " n"], labels: Real[Array, " n"]) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    Args:
        scores: Any real scores (probabilities or logits), higher = more likely true.
        labels: 0/1 labels with both classes present.

    Returns:
        AUROC in [0, 1]; equals ``sklearn.metrics.roc_auc_score``.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    s = _vector(scores, "scores")
    y = check_binary_labels(labels, n=s.size, name="labels").numpy()
    ranks = rankdata(s)
    n1, n0 = int(y.sum()), int((1 - y).sum())
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(probs: Float[Array, " n"], labels: Real[Array, " n"]) -> float:
    """Mean squared error between P(true) and the (possibly soft) label.

    Example:
        >>> round(brier([0.9, 0.2], [1, 0]), 3)
        0.025
    """
    p, y = _probs_and_labels(probs, labels, soft=True)
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin calibration data; empty bins have ``count == 0`` and NaN statistics.

    Attributes:
        bin_lower: Lower bin edge (quantile bins: smallest score in the bin).
        bin_upper: Upper bin edge (quantile bins: largest score in the bin).
        bin_centre: ``(bin_lower + bin_upper) / 2``.
        confidence: Mean predicted probability (or top-label confidence) in the bin.
        frequency: Empirical frequency of label 1 (or accuracy, for ``kind="top_label"``).
        count: Examples in the bin.
    """

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    bin_centre: np.ndarray
    confidence: np.ndarray
    frequency: np.ndarray
    count: np.ndarray

    @property
    def gaps(self) -> np.ndarray:
        """``|frequency - confidence|`` of the non-empty bins."""
        keep = self.count > 0
        return np.abs(self.frequency[keep] - self.confidence[keep])

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted mean gap."""
        keep = self.count > 0
        return float(np.sum(self.count[keep] / self.count.sum() * self.gaps))

    @property
    def mce(self) -> float:
        """Maximum calibration error: largest gap over non-empty bins."""
        return float(self.gaps.max())


def reliability_diagram(
    probs: Float[Array, " n"], labels: Real[Array, " n"], n_bins: int = 10,
    strategy: str = "uniform", kind: str = "positive",
) -> ReliabilityDiagram:
    """Bin predictions and compare mean confidence with the empirical frequency per bin.

    Args:
        probs: P(true) per example.
        labels: 0/1 (or soft) labels.
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).
        kind: ``"positive"`` or ``"top_label"`` (see the module docstring).

    Returns:
        The per-bin data; ``.ece`` and ``.mce`` summarise it.

    Example:
        >>> diagram = reliability_diagram(probs, labels, n_bins=10)  # doctest: +SKIP
        >>> diagram.frequency, diagram.confidence, diagram.count  # doctest: +SKIP
    """
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    if kind not in ("positive", "top_label"):
        raise ValueError(f"kind must be 'positive' or 'top_label', got {kind!r}")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p, y = _probs_and_labels(probs, labels, soft=True)
    conf, outcome = p, y
    if kind == "top_label":
        predicted_true = p > 0.5
        conf = np.where(predicted_true, p, 1 - p)
        outcome = np.where(predicted_true, y, 1 - y)
    groups, lower, upper = _bin_members(conf, int(n_bins), strategy)
    count = np.array([g.size for g in groups])
    return ReliabilityDiagram(lower, upper, (lower + upper) / 2, _bin_means(conf, groups),
                              _bin_means(outcome, groups), count)


def _bin_means(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    return np.array([values[g].mean() if g.size else np.nan for g in groups])


def _bin_members(
    conf: np.ndarray, n_bins: int, strategy: str
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Indices of the examples in each bin, and the bins' lower and upper edges."""
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        which = np.searchsorted(edges[1:-1], conf, side="left")
        return [np.flatnonzero(which == b) for b in range(n_bins)], edges[:-1], edges[1:]
    groups = np.array_split(np.argsort(conf, kind="stable"), n_bins)
    lower = np.array([conf[g].min() if g.size else np.nan for g in groups])
    upper = np.array([conf[g].max() if g.size else np.nan for g in groups])
    return groups, lower, upper


def ece(
    probs: Float[Array, " n"], labels: Real[Array, " n"], n_bins: int = 10,
    strategy: str = "uniform", kind: str = "positive",
) -> float:
    """Expected calibration error (see the module docstring for the convention).

    Example:
        >>> # bins {.2, .3} and {.8, .9}: 0.5 * |0.5 - 0.25| + 0.5 * |1 - 0.85|
        >>> round(ece([0.2, 0.3, 0.8, 0.9], [0, 1, 1, 1], n_bins=2), 3)
        0.2
    """
    return reliability_diagram(probs, labels, n_bins, strategy, kind).ece


def mce(
    probs: Float[Array, " n"], labels: Real[Array, " n"], n_bins: int = 10,
    strategy: str = "uniform", kind: str = "positive",
) -> float:
    """Maximum calibration error over non-empty bins.

    Example:
        >>> round(mce([0.2, 0.3, 0.8, 0.9], [0, 1, 1, 1], n_bins=2), 3)
        0.25
    """
    return reliability_diagram(probs, labels, n_bins, strategy, kind).mce


class ConfidenceInterval(NamedTuple):
    """A point estimate with a percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float], probs: Float[Array, " n"],
    labels: Real[Array, " n"],
    n_boot: int = 1000, alpha: float = 0.05, seed: int = 0, groups: Real[Array, " n"] | None = None,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of ``metric(probs, labels)`` (resampling examples, or whole groups).

    Resamples on which the metric raises ``ValueError`` (e.g. AUROC on a one-class resample)
    are skipped and counted in a log message.

    Args:
        metric: E.g. :func:`auroc` or ``functools.partial(ece, n_bins=15)``.
        probs: Scores per example.
        labels: Labels per example.
        n_boot: Number of resamples.
        alpha: 1 - coverage (0.05 gives a 95% interval).
        seed: Seed of the resampling generator.
        groups: Optional group id per example (e.g. the question several answers belong to): each
            resample draws whole groups with replacement (a cluster bootstrap), so rows that are not
            independent do not narrow the interval.

    Returns:
        ``(estimate, low, high)``.

    Example:
        >>> bootstrap_ci(auroc, probs, labels, n_boot=2000)  # doctest: +SKIP
        ConfidenceInterval(estimate=0.91, low=0.88, high=0.94)
    """
    check_value("alpha", alpha, FRACTION)
    p, y = _vector(probs, "probs"), _vector(labels, "labels")
    if p.size != y.size:
        raise ValueError(f"probs has {p.size} entries but labels has {y.size}")
    rng = np.random.default_rng(seed)
    members = _group_members(groups, p.size) if groups is not None else None
    if metric is sample_mean and members is not None:  # by group: every resample at once, from the loop's own draws
        return _interval(sample_mean(p), _bootstrap_means(p, members, rng, int(n_boot)), int(n_boot), alpha)
    if metric is auroc:
        try:
            estimate = auroc(p, y)
        except ValueError:
            pass  # one class or labels other than 0/1: the loop below fails as it always has
        else:
            weights = _resample_weights(p.size, members, rng, int(n_boot))
            return _interval(estimate, _bootstrap_aurocs(p, y, weights), int(n_boot), alpha)
    if metric in (ece, mce, brier):
        try:
            estimate = metric(p, y)
        except ValueError:
            pass  # probabilities or labels out of range: the loop below fails as it always has
        else:
            weights = _resample_weights(p.size, members, rng, int(n_boot))
            return _interval(estimate, _bootstrap_calibration(metric, p, y, weights), int(n_boot), alpha)
    values = []
    for _ in range(int(n_boot)):
        if members is None:
            idx = rng.integers(0, p.size, p.size)
        else:
            idx = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        try:
            values.append(metric(p[idx], y[idx]))
        except ValueError:
            continue
    return _interval(float(metric(p, y)) if values else None, values, int(n_boot), alpha)


def _interval(estimate: float | None, values, n_boot: int, alpha: float) -> ConfidenceInterval:
    """The percentile interval of the resamples' ``values`` around ``estimate``."""
    if len(values) == 0:
        raise ValueError("the metric failed on every bootstrap resample: check the inputs")
    if len(values) < n_boot:
        logger.info("bootstrap_ci: skipped %d of %d resamples", n_boot - len(values), n_boot)
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return ConfidenceInterval(float(estimate), float(low), float(high))


def sample_mean(values: Float[Array, " n"], _labels: Real[Array, " n"] | None = None) -> float:
    """The mean of ``values`` (labels ignored): :func:`bootstrap_ci`'s metric for a rate or a mean score.

    Example:
        >>> bootstrap_ci(sample_mean, [0, 1, 1, 1], [0, 0, 0, 0], n_boot=200).estimate
        0.75
    """
    return float(np.mean(_vector(values, "values")))


def _resample_draws(width: int, rng: np.random.Generator, n_boot: int, block: int = 256):
    """Yield ``(m, width)`` arrays of the indices :func:`bootstrap_ci`'s loop draws from ``rng`` (rows, or groups),
    ``block`` resamples at a time, one call per resample as there."""
    for first in range(0, n_boot, block):
        yield np.stack([rng.integers(0, width, width) for _ in range(min(block, n_boot - first))])


def _resample_weights(n: int, members: list[np.ndarray] | None, rng: np.random.Generator, n_boot: int,
                      block: int = 256):
    """Yield ``(m, n)`` arrays of how often each row is drawn (its group, when ``members`` are given) per resample."""
    width = n if members is None else len(members)
    if members is not None:
        row_group = np.empty(n, dtype=np.int64)
        for g, rows in enumerate(members):
            row_group[rows] = g
    for draws in _resample_draws(width, rng, n_boot, block):
        m = draws.shape[0]
        counts = np.bincount((draws + width * np.arange(m)[:, None]).ravel(), minlength=m * width).reshape(m, width)
        yield (counts if members is None else counts[:, row_group]).astype(np.float64)


def _bootstrap_means(values: np.ndarray, members: list[np.ndarray], rng: np.random.Generator,
                     n_boot: int) -> np.ndarray:
    """:func:`sample_mean` of each group resample, at once: the mean weighted by how often each row was drawn.
    (Without groups the loop is as fast: ``python -m benchmarks.bootstrap``.)"""
    return np.concatenate([(w @ values) / w.sum(axis=1)
                           for w in _resample_weights(values.size, members, rng, n_boot)])


def _bootstrap_calibration(metric, p: np.ndarray, y: np.ndarray, weights) -> np.ndarray:
    """:func:`ece`, :func:`mce` or :func:`brier` (their defaults: ten equal-width bins on P(true)) of each resample, at
    once: per bin, the weighted sum of ``p - y`` and the weight drawn; ECE is the sum of the bins' absolute sums over
    the total weight, MCE the largest absolute sum over its bin's weight among bins drawn into."""
    gap = p - y
    out = []
    if metric is brier:
        for w in weights:
            out.append((w @ gap ** 2) / w.sum(axis=1))
        return np.concatenate(out)
    groups, _, _ = _bin_members(p, 10, "uniform")
    member = np.zeros((p.size, len(groups)))
    for b, rows in enumerate(groups):
        member[rows, b] = 1.0
    for w in weights:
        sums, counts = np.abs(w @ (member * gap[:, None])), w @ member
        if metric is ece:
            out.append(sums.sum(axis=1) / counts.sum(axis=1))
        else:
            out.append(np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), -np.inf).max(axis=1))
    return np.concatenate(out)


def _bootstrap_aurocs(scores: np.ndarray, labels: np.ndarray, weights) -> np.ndarray:
    """AUROC of each resample, at once; resamples holding one class are skipped, as the loop skips them.

    A resample is a multiplicity per row; its AUROC is the weighted Mann-Whitney statistic: per positive row, the
    weight of negatives scoring below it plus half of those tied with it, over the product of the classes' weights.
    """
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    positive = labels[order] == 1
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # each run of tied scores
    run = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, scores.size]))
    out = []
    for w in weights:
        w = w[:, order]
        neg = np.where(positive, 0.0, w)
        pos = np.where(positive, w, 0.0)
        per_run = np.add.reduceat(neg, starts, axis=1)  # negatives' weight in each run of ties
        run_start = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(per_run, axis=1)[:, :-1]], axis=1)
        wins = (pos * (run_start[:, run] + 0.5 * per_run[:, run])).sum(axis=1)
        n1, n0 = pos.sum(axis=1), neg.sum(axis=1)
        ok = (n1 > 0) & (n0 > 0)
        out.append(wins[ok] / (n1[ok] * n0[ok]))
    return np.concatenate(out)


def _group_members(groups: Real[Array, " n"], n: int) -> list[np.ndarray]:
    """Row indices of each distinct group, in order of first appearance."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != n:
        raise ValueError(f"groups must give one id per example ({n}), got shape {g.shape}")
    _, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    order = np.argsort(first)
    return [np.flatnonzero(inverse == k) for k in order]


def bootstrap_accuracy_auroc(
    probs: Float[Array, " n"], labels: Real[Array, " n"], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """:func:`bootstrap_ci` of accuracy and AUROC at once, vectorised over resamples (same resamples).

    Draws the same resamples as ``bootstrap_ci(..., seed=seed)`` and gives the same intervals, in
    a few milliseconds instead of a second: what a per-layer sweep needs.

    Returns:
        ``{"accuracy": ConfidenceInterval, "auroc": ConfidenceInterval}``.
    """
    check_value("alpha", alpha, FRACTION)
    p = _vector(probs, "probs")
    y = check_binary_labels(labels, n=p.size, name="labels").numpy()
    idx = np.random.default_rng(seed).integers(0, p.size, (int(n_boot), p.size))
    accs = ((p > 0.5) == y)[idx].mean(axis=1)
    q = [alpha / 2, 1 - alpha / 2]
    out = {"accuracy": ConfidenceInterval(accuracy(p, y), *map(float, np.quantile(accs, q)))}
    try:  # bootstrap_ci computes AUROC for every resample at once, from the same draws
        out["auroc"] = bootstrap_ci(auroc, p, y, n_boot=n_boot, alpha=alpha, seed=seed)
    except ValueError:  # no resample holds both classes
        pass
    return out
