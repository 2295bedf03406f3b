"""The demo page leads with its headline figure: accuracy and AUROC by layer, with intervals."""

from veracity.experiments.demo import write_demo_report


def test_demo_page_shows_accuracy_and_auroc_by_layer_with_intervals(tmp_path):
    records = [{"probe": probe, "layer": layer, "accuracy": 0.5 + 0.01 * layer, "auroc": 0.6,
                "accuracy_ci95": [0.4, 0.7], "auroc_ci95": [0.5, 0.8], "ece": 0.1}
               for probe in ("logistic", "ccs") for layer in range(4)]
    records += [{"probe": "random", "layer": layer, "accuracy": 0.5, "auroc": 0.5, "ece": 0.1} for layer in range(4)]
    best = {"logistic": records[3], "ccs": records[7], "random": records[8]}
    contrast = [{"probe": "ccs on answer-template pairs", "layer": layer, "accuracy": 0.5, "auroc": 0.5,
                 "accuracy_ci95": [0.45, 0.55], "auroc_ci95": [0.45, 0.55]} for layer in (0, 3)]
    page = write_demo_report(tmp_path, best, records, contrast, "tiny").read_text()
    head = page.index("Where does the model represent truth?")
    assert head < page.index("Best layer per probe")
    assert page.count('class="plotly-graph-div"') == 2
    assert "Held-out accuracy by layer" in page and "Held-out AUROC by layer" in page
    assert page.count('"fill":"toself"') == 6, "one interval band per probe with intervals, per figure"
    assert page.count("ccs on answer-template pairs: 95% bootstrap interval") == 2, "the contrast is labelled"
    assert page.count("shaded: 95% bootstrap interval") == 2, "one legend entry per figure names the bands"
    assert "interval includes chance at every layer" in page
