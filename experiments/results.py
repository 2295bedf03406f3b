"""The shape every newer study's ``results.json`` takes, written once.

Top level: ``study`` (its name), ``model`` (id, layers, width), ``config`` (every option) and
``headline``: a flat dict of figure name -> ``{"value": x, "ci": [lo, hi]}`` with percentile
bootstrap 95% intervals (by whole question where rows share one), then the study's own details.

Headline entries come from :mod:`veracity.probes.evaluation` (``mean_estimate``, ``auroc_estimate``).

Example:
    >>> headline = {"mc1": mean_estimate(mc1_per_question, seed=0)}
    >>> write_results(out, study_results("truthfulqa", model, config, headline, by_category=rows))
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from veracity.atomic import atomic_write_text

__all__ = ["study_results", "write_results"]

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
