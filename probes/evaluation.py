"""Held-out evaluation rows and headline estimates with bootstrap intervals.

- :func:`held_out_metrics`: accuracy, AUROC, ECE and Brier of P(true) on a held-out split, one row
  per (probe, layer); :func:`best_layers` picks the row with the highest accuracy per probe.
- Headline estimates are ``{"value": x, "ci": [lo, hi]}`` with percentile-bootstrap 95% intervals
  (whole groups resampled when rows share a question or entity): :func:`estimate`,
  :func:`mean_estimate`, :func:`auroc_estimate`; :func:`ci_text` prints one.

Example:
    >>> row = held_out_metrics(probe.predict_true(x_test), y_test)
    >>> entry = auroc_estimate(scores, labels, seed=0, groups=question_ids)
    >>> ci_text(entry)
    '0.812 [0.750, 0.870]'
"""

from __future__ import annotations

import numpy as np

from veracity.probes.metrics import auroc, bootstrap_ci, brier, ece, sample_mean

__all__ = ["N_BOOT", "auroc_estimate", "best_layer_headline", "best_layers", "ci_text", "estimate", "held_out_metrics", "mean_estimate"]

N_BOOT = 1000
"""Bootstrap resamples behind every headline interval."""


def held_out_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Held-out accuracy, AUROC, ECE (10 uniform bins) and Brier of P(true)."""
    return {"accuracy": float(np.mean((probs > 0.5) == labels)), "auroc": auroc(probs, labels),
            "ece": ece(probs, labels), "brier": brier(probs, labels)}


def best_layers(records: list[dict], by: str = "accuracy") -> dict[str, dict]:
    """Per probe, the record of the layer with the highest ``by`` (the first such layer on a tie).

    Pass a score measured off the test rows (``"validation_accuracy"``): the held-out ``"accuracy"``
    chooses on the test set and is optimistic.
    """
    best: dict[str, dict] = {}
    for r in records:
        if r["probe"] not in best or r[by] > best[r["probe"]][by]:
            best[r["probe"]] = r
    return best


def best_layer_headline(best: dict[str, dict], metrics=("accuracy", "auroc")) -> dict[str, dict]:
    """Headline entries ``<metric>_<probe>_best_layer`` from :func:`best_layers`' records, with the record's
    ``<metric>_ci95`` as the interval where it has one (``None`` otherwise, e.g. a mean of random directions)."""
    return {f"{metric}_{probe}_best_layer": {"value": record[metric], "ci": record.get(f"{metric}_ci95")}
            for probe, record in best.items() for metric in metrics if metric in record}


def estimate(value: float, low: float, high: float) -> dict:
    """One headline entry: ``{"value": value, "ci": [low, high]}``."""
    return {"value": float(value), "ci": [float(low), float(high)]}


def ci_text(entry: dict | None) -> str:
    """``"0.812 [0.750, 0.870]"`` for a headline entry (``"0.812"`` without an interval, ``"n/a"`` for ``None``)."""
    if entry is None or entry.get("value") is None:
        return "n/a"
    if entry.get("ci") is None:
        return f"{entry['value']:.3f}"
    return f"{entry['value']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"


def mean_estimate(values, seed: int, groups=None) -> dict:
    """The mean of ``values`` with its bootstrap interval (whole ``groups`` resampled when given)."""
    values = np.asarray(values, dtype=np.float64)
    return estimate(*bootstrap_ci(sample_mean, values, np.zeros_like(values), n_boot=N_BOOT, seed=seed, groups=groups))


def auroc_estimate(scores, labels, seed: int, groups=None) -> dict:
    """AUROC of ``scores`` against 0/1 ``labels`` with its bootstrap interval (by group when given)."""
    return estimate(*bootstrap_ci(auroc, scores, labels, n_boot=N_BOOT, seed=seed, groups=groups))
