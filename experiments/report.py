"""Self-contained HTML reports: plotly figures, tables and notes in one file that opens offline.

plotly.js is inlined once in the ``<head>``; every figure is a ``<div>`` that reuses it, so a
report with ten figures is not ten times the size. Figure builders here are shared by the
experiments (metric-by-layer lines, reliability diagrams, 2-D scatter, histograms).

Example:
    >>> figs = [metric_by_layer_figure(records, "accuracy")]
    >>> write_report("artifacts/sweep/report.html", "Truth sweep", [table_html(records), *figs])
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from veracity.atomic import atomic_write_text

__all__ = [
    "figure_html", "histogram_figure", "metric_by_layer_figure", "reliability_figure", "scatter_figure",
    "table_html", "write_report",
]

logger = logging.getLogger(__name__)

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}"""


def figure_html(fig: go.Figure) -> str:
    """One figure as a ``<div>`` that expects plotly.js to be loaded already."""
    return fig.to_html(full_html=False, include_plotlyjs=False)


def write_report(path: str | Path, title: str, parts: Sequence[str | go.Figure]) -> Path:
    """Write one HTML file: a title, then each part (HTML text or a plotly figure) in order.

    Args:
        path: Where to write (parent folders are created).
        title: Page title and top heading.
        parts: HTML snippets (e.g. from :func:`table_html`) and ``plotly`` figures.

    Returns:
        The path written.

    Raises:
        ValueError: A table comes before the first figure: a report opens on its headline figure
            (an introductory paragraph may precede it).
    """
    from plotly.offline import get_plotlyjs

    body = [p if isinstance(p, str) else figure_html(p) for p in parts]
    first_figure = next((i for i, p in enumerate(parts) if not isinstance(p, str) or "plotly-graph-div" in p), None)
    first_table = next((i for i, p in enumerate(body) if "<table" in p), None)
    if first_figure is not None and first_table is not None and first_table < first_figure:
        raise ValueError(f"report {title!r} shows a table before its first figure: put the headline figure first")
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
            f"<body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")
    path = atomic_write_text(path, page)
    logger.info("wrote %s", path)
    return path


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.3f}"
    return html.escape("" if value is None else str(value))


def table_html(rows: Sequence[dict], columns: Sequence[str] | None = None, caption: str | None = None) -> str:
    """An HTML table of dict rows (floats shown with 3 decimals).

    Args:
        rows: Records, e.g. ``{"probe": "logistic", "accuracy": 0.91}``.
        columns: Which keys, in order (default: the keys of the first row).
        caption: Optional caption above the table.

    Returns:
        The ``<table>`` HTML.
    """
    if not rows:
        return "<p>(no rows)</p>"
    columns = list(columns or rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def metric_by_layer_figure(records: Sequence[dict], metric: str, title: str | None = None,
                           chance: float | None = 0.5) -> go.Figure:
    """One line per probe: ``metric`` against layer, with a shaded 95% interval where rows have one.

    One legend entry ("shaded: 95% bootstrap interval") names every band, and each point's hover
    text gives its interval, so a reader never has to guess what the shading means.

    Args:
        records: Rows with ``"layer"``, ``"probe"`` and ``metric`` (and optionally ``metric + "_ci95"``).
        metric: e.g. ``"accuracy"`` or ``"auroc"``.
        title: Figure title (default: the metric by layer).
        chance: Draw a dashed line at this value (``None`` for none).

    Returns:
        A plotly figure.
    """
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    any_ci = False
    for i, probe in enumerate(dict.fromkeys(r["probe"] for r in records)):
        rows = sorted((r for r in records if r["probe"] == probe), key=lambda r: r["layer"])
        colour, layers = palette[i % len(palette)], [r["layer"] for r in rows]
        has_ci = all(f"{metric}_ci95" in r for r in rows)
        if has_ci:
            any_ci = True
            low, high = zip(*(r[f"{metric}_ci95"] for r in rows))
            fig.add_trace(go.Scatter(x=layers + layers[::-1], y=list(high) + list(low)[::-1], fill="toself",
                                     fillcolor=colour, opacity=0.15, line={"width": 0}, hoverinfo="skip",
                                     name=f"{probe}: 95% bootstrap interval", legendgroup=probe, showlegend=False))
        values = [r[metric] for r in rows]
        hover = (f"{probe}, layer %{{x}}: %{{y:.3f}} [%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}] "
                 "(95% bootstrap interval)<extra></extra>" if has_ci else f"{probe}, layer %{{x}}: %{{y:.3f}}<extra></extra>")
        fig.add_trace(go.Scatter(x=layers, y=values, mode="lines+markers", name=probe, line={"color": colour},
                                 legendgroup=probe, customdata=list(zip(low, high)) if has_ci else None,
                                 hovertemplate=hover))
    if any_ci:  # one legend entry says what every shaded band is
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"width": 10, "color": "rgba(128,128,128,0.3)"},
                                 name="shaded: 95% bootstrap interval", hoverinfo="skip"))
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dash", line_color="grey")
    fig.update_layout(title=title or f"{metric} by layer (held-out)", xaxis_title="layer (residual stream after block L)",
                      yaxis_title=metric, height=420)
    return fig


def reliability_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], title: str = "Reliability diagram") -> go.Figure:
    """Reliability diagram: mean predicted probability against observed frequency, per bin.

    Args:
        curves: Name to ``(mean_confidence, observed_frequency, count)`` per non-empty bin
            (e.g. from ``veracity.probes.reliability_diagram``); marker size grows with the count.
        title: Figure title.

    Returns:
        A plotly figure with the diagonal for reference.
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "grey"},
                             name="perfect calibration"))
    for name, (conf, freq, count) in curves.items():
        count = np.asarray(count, dtype=float)
        keep = count > 0
        sizes = 6 + 18 * np.sqrt(count[keep] / max(count.max(), 1))
        fig.add_trace(go.Scatter(x=np.asarray(conf)[keep], y=np.asarray(freq)[keep], mode="lines+markers", name=name,
                                 marker={"size": sizes}, text=[f"n={int(c)}" for c in count[keep]]))
    fig.update_layout(title=title, xaxis_title="predicted probability", yaxis_title="observed frequency",
                      xaxis_range=[0, 1], yaxis_range=[0, 1], height=460)
    return fig


def scatter_figure(points: np.ndarray, labels: np.ndarray, title: str, names: tuple[str, str] = ("false", "true"),
                   axis_titles: tuple[str, str] = ("PC 1", "PC 2"), hover: Sequence[str] | None = None) -> go.Figure:
    """A 2-D scatter coloured by a 0/1 label (e.g. a PCA of activations).

    Args:
        points: ``(n, 2)`` coordinates.
        labels: ``(n,)`` 0/1.
        title: Figure title.
        names: Legend names of label 0 and 1.
        axis_titles: Axis titles.
        hover: Optional hover text per point.

    Returns:
        A plotly figure.
    """
    points, labels = np.asarray(points), np.asarray(labels)
    fig = go.Figure()
    for value, name, colour in ((0, names[0], "#d62728"), (1, names[1], "#1f77b4")):
        keep = labels == value
        text = None if hover is None else [h for h, k in zip(hover, keep) if k]
        fig.add_trace(go.Scattergl(x=points[keep, 0], y=points[keep, 1], mode="markers", name=name, text=text,
                                   marker={"color": colour, "size": 5, "opacity": 0.7}))
    fig.update_layout(title=title, xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], height=460)
    return fig


def histogram_figure(values: dict[str, np.ndarray], title: str, xaxis_title: str, nbins: int = 20) -> go.Figure:
    """Overlaid histograms, one per named array (e.g. P(IK) of correct vs wrong answers)."""
    fig = go.Figure()
    for name, vals in values.items():
        fig.add_trace(go.Histogram(x=np.asarray(vals), name=name, opacity=0.6, nbinsx=nbins))
    fig.update_layout(title=title, barmode="overlay", xaxis_title=xaxis_title, yaxis_title="count", height=400)
    return fig
