"""Per-layer scoring rows: one dict of held-out metrics per (probe, layer), and the best layer per probe."""

from __future__ import annotations

import numpy as np

from veracity.probes import auroc, brier, ece

__all__ = ["best_layers", "score"]


def score(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Held-out accuracy, AUROC, ECE (10 uniform bins) and Brier of P(true)."""
    return {"accuracy": float(np.mean((probs > 0.5) == labels)), "auroc": auroc(probs, labels),
            "ece": ece(probs, labels), "brier": brier(probs, labels)}


def best_layers(records: list[dict]) -> dict[str, dict]:
    """Per probe, the record of the layer with the highest held-out accuracy (a max over layers: optimistic)."""
    best: dict[str, dict] = {}
    for r in records:
        if r["probe"] not in best or r["accuracy"] > best[r["probe"]]["accuracy"]:
            best[r["probe"]] = r
    return best
