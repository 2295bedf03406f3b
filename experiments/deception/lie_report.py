"""The lie-detection report: ROC curves of every recipe, the transfer heatmap, then the figures."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from veracity.experiments.report import table_html, write_report
from veracity.probes.evaluation import ci_text

__all__ = ["write_lie_report"]


def roc_figure(results) -> go.Figure:
    """One ROC curve per recipe on the held-out questions' answers, pooled over the lie kinds."""
    fig = go.Figure()
    head = results["headline"]
    for name, curve in results["roc"].items():
        auroc = head.get(f"auroc_pooled_{name}")
        fig.add_scatter(x=curve["fpr"], y=curve["tpr"], mode="lines",
                        name=f"{name} (AUROC {ci_text(auroc)})" if auroc else name)
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
    fig.update_layout(title="Held-out lies against honest answers, pooled over lie kinds (AUROC with 95% interval, "
                            "resampled by question)", xaxis_title="false-positive rate (honest answers flagged)",
                      yaxis_title="recall (lies flagged)", height=480)
    return fig


def transfer_figure(results) -> go.Figure:
    """AUROC within each held-out lie kind of monitors fitted on one kind (or on instructed pairs)."""
    table = results.tables.get("transfer", []) if hasattr(results, "tables") else results["tables"]["transfer"]
    sources = list(dict.fromkeys(r["fitted_on"] for r in table))
    targets = list(dict.fromkeys(r["scored_on"] for r in table))
    cells = {(r["fitted_on"], r["scored_on"]): r for r in table}
    z = [[cells[(s, t)]["auroc"] if (s, t) in cells else None for t in targets] for s in sources]
    text = [[f"{cells[(s, t)]['auroc']:.2f}" if (s, t) in cells else "" for t in targets] for s in sources]
    fig = go.Figure(go.Heatmap(z=z, x=targets, y=sources, zmin=0, zmax=1, colorscale="RdBu", text=text,
                               texttemplate="%{text}", colorbar={"title": "AUROC"}))
    fig.update_layout(title="Transfer: fitted on one lie kind (rows), scored within another (columns); 0.5 = chance",
                      height=160 + 40 * len(sources), xaxis_title="scored on", yaxis_title="fitted on")
    return fig


def write_lie_report(path: str | Path, results) -> Path:
    """``report.html``: ROC curves, the transfer heatmap, the headline, the per-kind offsets."""
    head = results["headline"]
    tables = results.tables if hasattr(results, "tables") else results["tables"]
    return write_report(path, f"Would we catch it? Lie monitors on {results['model']['id']}", [
        roc_figure(results), transfer_figure(results),
        f"<p>{results['n_questions']} questions, {results['n_test']} held out ({results['n_test_answers']} answers, "
        f"{results['n_lies_test']} lies); thresholds set at the stated false-positive rate on "
        f"{results['n_control'] // 2} honest control answers, checked on the other half. Rule: {results['rule']}.</p>",
        table_html([{"figure": k, "value": ci_text(v)} for k, v in head.items()], caption="Headline (95% intervals)"),
        table_html(tables["offsets"], caption="Honest answers' mean score per kind: a level that moves with the "
                                              "prompt ranks prompts, not lies"),
        table_html(tables["transfer"], caption="Transfer matrix"),
    ])
