"""The HTML report of the calibration-gap experiment: reliability diagrams side by side, histograms, tables."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from veracity.experiments.report import histogram_figure, reliability_figure, table_html, write_report
from veracity.probes import reliability_diagram

__all__ = ["SCORES", "histogram_panels", "reliability_panels", "write_calibration_report"]

SCORES = {"verbal": "verbalised confidence (0-100 reply)", "p_true": "P(True), model's own", "p_ik": "P(IK) head"}
"""Score name to its label in tables and figures, in the order they are shown."""

COLUMNS = ("score", "n", "n_unscored", "auroc", "auroc_ci95", "ece", "mce", "brier", "mean_prob", "accuracy",
           "distinct_values")


def _scored(score: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(score)
    return score[keep], correct[keep]


def reliability_panels(scores: dict[str, np.ndarray], correct: np.ndarray, n_bins: int = 10) -> go.Figure:
    """One reliability diagram per score, side by side (NaN scores left out of their panel).

    Args:
        scores: Score name to confidence per question (names from :data:`SCORES`).
        correct: 0/1 correctness per question.
        n_bins: Equal-width bins on [0, 1].

    Returns:
        A plotly figure; each score's curve is the trace with ``uid="reliability-<name>"``.
    """
    fig = make_subplots(rows=1, cols=len(scores), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[SCORES.get(name, name) for name in scores])
    for col, (name, score) in enumerate(scores.items(), start=1):
        s, y = _scored(score, correct)
        if s.size == 0:
            continue
        d = reliability_diagram(s, y, n_bins=n_bins)
        diagonal, curve = reliability_figure({f"ECE {d.ece:.3f}": (d.confidence, d.frequency, d.count)}).data
        diagonal.update(showlegend=col == 1, legendgroup="diagonal")
        curve.update(uid=f"reliability-{name}", name=f"{SCORES.get(name, name)}: ECE {d.ece:.3f}")
        fig.add_trace(diagonal, row=1, col=col)
        fig.add_trace(curve, row=1, col=col)
        fig.update_xaxes(title_text="confidence", range=[-0.03, 1.03], row=1, col=col)
    fig.update_yaxes(range=[-0.03, 1.03])
    fig.update_yaxes(title_text="fraction correct", row=1, col=1)
    fig.update_layout(title=f"Reliability on the held-out split ({n_bins} equal-width bins; marker size = count)",
                      height=430, legend={"orientation": "h", "y": -0.25})
    return fig


def histogram_panels(scores: dict[str, np.ndarray], correct: np.ndarray) -> go.Figure:
    """Per score, overlaid histograms of its confidence for right and wrong answers, side by side."""
    fig = make_subplots(rows=1, cols=len(scores), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[SCORES.get(name, name) for name in scores])
    colours = {"right": "#1f77b4", "wrong": "#d62728"}
    for col, score in enumerate(scores.values(), start=1):
        s, y = _scored(score, correct)
        for trace in histogram_figure({"right": s[y == 1], "wrong": s[y == 0]}, "", "").data:
            trace.update(xbins={"start": -0.025, "end": 1.025, "size": 0.05}, marker_color=colours[trace.name],
                         legendgroup=trace.name, showlegend=col == 1, nbinsx=None)
            fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(title_text="confidence (bins of 0.05)", range=[-0.03, 1.03], row=1, col=col)
    fig.update_yaxes(title_text="questions", row=1, col=1)
    fig.update_layout(title="Confidence of right and wrong answers (held-out)", barmode="overlay", height=400)
    return fig


def _rows(records: list[dict]) -> list[dict]:
    """Table rows: the score's label, and its AUROC interval as text ("-" where there are no metrics)."""
    rows = []
    for r in records:
        ci = "[{:.3f}, {:.3f}]".format(*r["auroc_ci95"]) if "auroc_ci95" in r else "-"
        rows.append({**r, "score": r["label"], "auroc_ci95": ci})
    return rows


def _intro(results: dict) -> str:
    cfg = results["config"]
    return (f"<p>model <code>{html.escape(results['model_id'])}</code>; {results['n_questions']} questions "
            f"({html.escape(cfg['qa_sets'])}), {results['n_train']} train / {results['n_test']} held out; greedy "
            f"accuracy {results['accuracy_greedy']:.3f} (held out {results['accuracy_test']:.3f}). Verbal: the model "
            f"is asked <q>{html.escape(results['verbal_question'])}</q> after its answer, in the same chat; the reply "
            f"was parsed for {results['verbal_parse_rate_test']:.0%} of held-out questions; unparseable replies are "
            f"{html.escape(results['unparseable'])}. P(IK): layer {results['layer']} ({html.escape(results['site'])}, "
            f"{html.escape(results['position'])}), target {cfg['target']}. {html.escape(results['metric_note'])}.</p>")


def write_calibration_report(path: str | Path, results: dict, scores: dict[str, np.ndarray], correct: np.ndarray,
                             test: np.ndarray, replies: Sequence[str]) -> Path:
    """Write ``report.html`` for :func:`veracity.experiments.knowing.calibration_gap.run`.

    Args:
        path: Output file.
        results: The ``results.json`` contents.
        scores: Score name to confidence for every question (NaN = unscored).
        correct: 0/1 greedy correctness for every question.
        test: Held-out indices (every figure and table uses them).
        replies: The reply to the confidence question for every question.

    Returns:
        The path written.
    """
    held_out = {name: s[test] for name, s in scores.items()}
    common = Counter(replies[i] for i in test).most_common(8)
    parts = [
        _intro(results),
        reliability_panels(held_out, correct[test], results["config"]["n_bins"]),
        table_html(_rows(results["tables"]["scores"]), COLUMNS,
                   caption="Held-out: does the confidence predict that the greedy answer is correct?"),
        histogram_panels(held_out, correct[test]),
        table_html(_rows(results["tables"]["scores_on_verbal_subset"]), COLUMNS,
                   caption="The same, on the held-out questions whose verbal reply was parsed (like for like)"),
        table_html([{"reply": r, "count": n} for r, n in common], ("reply", "count"),
                   caption="Most frequent replies to the confidence question (held-out)"),
    ]
    return write_report(path, "Calibration gap: verbal confidence, P(True), P(IK)", parts)
