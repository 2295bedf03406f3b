"""The verbalised-calibration report: reliability diagrams first, then ECE by read-out and the probe agreement."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from veracity.experiments.report import reliability_figure, table_html, write_report
from veracity.probes.evaluation import ci_text

__all__ = ["write_verbal_report"]


def ece_figure(results) -> go.Figure:
    """ECE with its 95% interval for every read-out, in distribution and under the shift."""
    fig = go.Figure()
    table = results.tables["calibration"] if hasattr(results, "tables") else results["tables"]["calibration"]
    for side in ("in_distribution", "shift"):
        rows = [r for r in table if r["side"] == side and "ece" in r]
        fig.add_bar(x=[r["read_out"] for r in rows], y=[r["ece"]["value"] for r in rows], name=side.replace("_", " "),
                    error_y={"type": "data", "symmetric": False,
                             "array": [r["ece"]["ci"][1] - r["ece"]["value"] for r in rows],
                             "arrayminus": [r["ece"]["value"] - r["ece"]["ci"][0] for r in rows]})
    fig.update_layout(title="Expected calibration error (lower is better; 95% intervals resampled by question)",
                      barmode="group", yaxis_title="ECE", height=440)
    return fig


def write_verbal_report(path: str | Path, results) -> Path:
    """``report.html``: the reliability diagrams (in distribution, under the shift), ECE bars, the tables."""
    tables = results.tables if hasattr(results, "tables") else results["tables"]
    parts = []
    for side in ("in_distribution", "shift"):
        curves = {r["read_out"]: (r["diagram"]["confidence"], r["diagram"]["frequency"], r["diagram"]["count"])
                  for r in tables["calibration"] if r["side"] == side and "diagram" in r}
        parts.append(reliability_figure(curves, f"Reliability diagram, {side.replace('_', ' ')}"))
    parts += [
        ece_figure(results),
        f"<p>{results['n_questions']} questions: {results['n_train']} train the fine-tune, {results['n_test']} held "
        f"out of the same sub-tasks, {results['n_shift']} of sub-tasks never trained on. Rule: {results['rule']}.</p>",
        table_html([{"figure": k, "value": ci_text(v)} for k, v in results["headline"].items()],
                   caption="Headline (95% intervals)"),
        table_html([{k: (ci_text(v) if isinstance(v, dict) and "ci" in v else v) for k, v in r.items() if k != "diagram"}
                    for r in tables["calibration"]], caption="Calibration by read-out"),
        table_html(tables["agreement"], caption="Does the probe agree? Stated confidence against a frozen P(IK) "
                                                "head's reading, per layer"),
    ]
    return write_report(path, f"Verbalised confidence, trained, on {results['model']['id']}", parts)
