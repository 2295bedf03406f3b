"""The shape every newer study's ``results.json`` takes, written once.

Top level: ``study`` (its name), ``model`` (id, layers, width), ``config`` (every option) and
``headline``: a flat dict of figure name -> ``{"value": x, "ci": [lo, hi]}`` with percentile
bootstrap 95% intervals (by whole question where rows share one), then the study's own details.

Example:
    >>> headline = {"mc1": mean_figure(mc1_per_question, seed=0)}
    >>> write_results(out, study_results("truthfulqa", model, config, headline, by_category=rows))
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from veracity.atomic import atomic_write_text
from veracity.probes import auroc, bootstrap_ci

__all__ = ["auroc_figure", "ci_text", "figure", "mean_figure", "study_results", "write_results"]

N_BOOT = 1000


def figure(estimate: float, low: float, high: float) -> dict:
    """One headline entry."""
    return {"value": float(estimate), "ci": [float(low), float(high)]}


def ci_text(entry: dict | None) -> str:
    """``"0.812 [0.750, 0.870]"`` for a headline entry (``"n/a"`` for ``None``)."""
    return "n/a" if entry is None else f"{entry['value']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"


def _mean(values: np.ndarray, _labels: np.ndarray) -> float:
    return float(np.mean(values))


def mean_figure(values, seed: int, groups=None) -> dict:
    """The mean of ``values`` with its bootstrap interval (whole ``groups`` resampled when given)."""
    values = np.asarray(values, dtype=np.float64)
    ci = bootstrap_ci(_mean, values, np.zeros_like(values), n_boot=N_BOOT, seed=seed, groups=groups)
    return figure(*ci)


def auroc_figure(scores, labels, seed: int, groups=None) -> dict:
    """AUROC of ``scores`` against 0/1 ``labels`` with its bootstrap interval (by group when given)."""
    return figure(*bootstrap_ci(auroc, scores, labels, n_boot=N_BOOT, seed=seed, groups=groups))


def study_results(study: str, model, config, headline: dict[str, dict], **details) -> dict:
    """``{"study", "model", "config", "headline", **details}`` for ``results.json``."""
    return {"study": study, "model": {"id": model.model_id, "n_layers": model.n_layers, "d_model": model.d_model},
            "config": asdict(config), "headline": headline, **details}


def write_results(out: str | Path, results: dict) -> Path:
    """Write ``results.json`` into ``out`` atomically; returns its path."""
    path = Path(out) / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=1) + "\n")
    return path
