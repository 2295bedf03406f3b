"""The HTML report of a truth sweep: metrics by layer, a PCA of the best layer, reliability diagrams."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from veracity.experiments.report import (
    metric_by_layer_figure,
    reliability_figure,
    scatter_figure,
    table_html,
    write_report,
)
from veracity.probes import reliability_diagram

COLUMNS = ("probe", "layer", "validation_accuracy", "accuracy", "accuracy_either_sign", "auroc", "ece", "brier")


def pca_2d(x: Float[Tensor, "n d_model"], train: np.ndarray) -> tuple[Float[np.ndarray, "n 2"], Float[np.ndarray, " 2"]]:
    """Project all rows on the top two principal components of the training rows.

    Returns:
        ``(points (n, 2), explained variance ratio (2,))``.
    """
    x = x.double()
    mean = x[train].mean(dim=0)
    _, s, vh = torch.linalg.svd(x[train] - mean, full_matrices=False)
    ratio = (s[:2] ** 2 / (s**2).sum()).numpy()
    return ((x - mean) @ vh[:2].T).numpy(), ratio


def _intro(summary) -> str:
    cfg = summary["config"]
    pair = summary["example_pair"]
    rows = [
        f"model <code>{html.escape(summary['model']['id'])}</code>, dataset <b>{html.escape(summary['dataset'])}</b> "
        f"(n={summary['n']}: {summary['n_train']} train / {summary['n_test']} held out, grouped by "
        f"{html.escape(summary['split']['grouped_by'])}, seed {cfg['seed']})",
        f"site {summary['site']}, {html.escape(summary['layer_convention'])}, {summary['position']}",
        f"contrast pairs <b>{html.escape(cfg['pairs'])}</b>, normalisation {cfg['normalize']}; "
        "all metrics are on the held-out split. CCS/CRC/random are fitted without labels; the training labels "
        "only choose their sign (<code>accuracy</code>); <code>accuracy_either_sign</code> = max(acc, 1 - acc) "
        "is shown for reference only.",
    ]
    example = (f"<pre>no : {html.escape(pair['no'])}\nyes: {html.escape(pair['yes'])}</pre>")
    return "<p>" + "<br>".join(rows) + "</p>" + example


def _zero_shot(summary: dict) -> str:
    z = summary.get("zero_shot")
    if not z:
        return ""
    return table_html([{"what": f"model's own P(yes), template {z['template']}", **z}],
                      ("what", "accuracy", "auroc", "ece", "brier"), caption="Zero-shot (the model's next token)")


def write_sweep_report(path: str | Path, summary, statements: Float[Tensor, "n layer d_model"],
                       labels: np.ndarray, train: np.ndarray, test: np.ndarray, layers: list[int],
                       test_probs: dict[int, dict[str, np.ndarray]]) -> Path:
    """Write the sweep's ``report.html``.

    Args:
        path: Output file.
        summary: The sweep's :class:`~veracity.experiments.results.Results` (its ``by_layer`` table holds
            every layer and probe).
        statements: ``(n, n_layers_swept, d_model)`` statement activations.
        labels: ``(n,)`` 0/1.
        train: Training indices (PCA is fitted on them).
        test: Held-out indices.
        layers: The swept layers (index ``j`` of ``statements`` is layer ``layers[j]``).
        test_probs: Layer to probe name to held-out P(true).

    Returns:
        The path written.
    """
    best, records = summary["best"], summary["tables"]["by_layer"]
    parts = [_intro(summary),
             metric_by_layer_figure(records, "accuracy", "Held-out accuracy by layer"),
             metric_by_layer_figure(records, "auroc", "Held-out AUROC by layer"),
             table_html(list(best.values()), COLUMNS, caption="Best layer per probe: " + summary["best_note"]),
             _zero_shot(summary)]
    anchor = best.get("logistic") or next(iter(best.values()))
    layer = anchor["layer"]
    points, ratio = pca_2d(statements[:, layers.index(layer)], train)
    parts.append(scatter_figure(points, labels, f"PCA of statement activations, layer {layer} (fitted on train; "
                                f"{ratio[0]:.0%} + {ratio[1]:.0%} of variance)",
                                axis_titles=("PC 1", "PC 2")))
    curves = {}
    for name, p in test_probs[layer].items():
        d = reliability_diagram(p, labels[test], n_bins=10)
        curves[f"{name} (ECE {d.ece:.3f})"] = (d.confidence, d.frequency, d.count)
    parts.append(reliability_figure(curves, f"Reliability diagram, layer {layer}, held-out split"))
    parts.append(table_html(records, COLUMNS, caption="All layers"))
    return write_report(path, f"Truth sweep: {summary['dataset']}", parts)
