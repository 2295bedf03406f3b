"""Every report opens on its headline figure, and its shaded bands say they are 95% bootstrap intervals."""

import plotly.graph_objects as go
import pytest

from veracity.experiments.report import metric_by_layer_figure, table_html, write_report

RECORDS = [{"probe": "logistic", "layer": layer, "accuracy": 0.8 + 0.01 * layer, "accuracy_ci95": [0.7, 0.9]}
           for layer in range(3)]


def test_a_table_before_the_first_figure_is_refused(tmp_path):
    figure = metric_by_layer_figure(RECORDS, "accuracy")
    with pytest.raises(ValueError, match="table before its first figure"):
        write_report(tmp_path / "r.html", "r", ["<p>intro</p>", table_html([{"a": 1}]), figure])
    page = write_report(tmp_path / "r.html", "r", ["<p>intro</p>", figure, table_html([{"a": 1}])]).read_text()
    assert page.index("plotly-graph-div") < page.index("<table")
    write_report(tmp_path / "tables.html", "only tables", [table_html([{"a": 1}])])  # no figure: nothing to open on


def test_bands_are_labelled_as_95_percent_bootstrap_intervals_in_legend_and_hover():
    figure = metric_by_layer_figure(RECORDS, "accuracy")
    band, line, key = figure.data
    assert band.fill == "toself" and band.name == "logistic: 95% bootstrap interval"
    assert key.name == "shaded: 95% bootstrap interval" and key.showlegend is not False
    assert "95% bootstrap interval" in line.hovertemplate and [tuple(c) for c in line.customdata] == [(0.7, 0.9)] * 3
    plain = metric_by_layer_figure([{k: v for k, v in r.items() if k != "accuracy_ci95"} for r in RECORDS], "accuracy")
    assert len(plain.data) == 1 and "interval" not in plain.data[0].hovertemplate
    assert isinstance(plain, go.Figure)
