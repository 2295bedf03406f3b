"""Truth sweep: config, split, per-layer fitting on synthetic data, a tiny-model run, and the real run."""

import json

import numpy as np
import pytest
import torch

from veracity.experiments.cli import attribute_docs, build_parser, parse_config
from veracity.experiments.report import write_report
from veracity.experiments.truth.truth_sweep import (
    SweepConfig,
    fit_layer,
    load_sweep_data,
    run,
)
from veracity.probes.splits import stratified_split

METRICS = ("accuracy", "auroc", "ece")


def test_config_validation_says_what_to_do():
    with pytest.raises(ValueError, match="use 'negation' or a template"):
        SweepConfig(dataset="cities", pairs="nope")
    with pytest.raises(ValueError, match="choose from logistic"):
        SweepConfig(dataset="cities", probes="logistic,svm")
    with pytest.raises(ValueError, match="every:K"):
        SweepConfig(dataset="cities", layers="1-4")
    with pytest.raises(ValueError, match="test-fraction"):
        SweepConfig(dataset="cities", test_fraction=1.0)


def test_layer_selection():
    assert SweepConfig(dataset="x", layers="every:4").layer_indices(10) == [0, 4, 8]
    assert SweepConfig(dataset="x", layers="all").layer_indices(3) == [0, 1, 2]
    assert SweepConfig(dataset="x", layers="1,-1").layer_indices(4) == [1, 3]
    with pytest.raises(ValueError, match="out of range"):
        SweepConfig(dataset="x", layers="7").layer_indices(4)


def test_cli_options_come_from_the_config_docstring(capsys):
    docs = attribute_docs(SweepConfig)
    assert docs["ccs_restarts"].startswith("CCS random restarts")
    assert "no/yes answer" in docs["pairs"]
    config = parse_config(SweepConfig, ["--dataset", "cities", "--no-zero-shot", "--n", "40", "--logistic-c", "2"])
    assert (config.zero_shot, config.n, config.logistic_c) == (False, 40, 2.0)
    assert "--ccs-epochs" in build_parser(SweepConfig).format_help()
    with pytest.raises(SystemExit):
        parse_config(SweepConfig, ["--dataset", "cities", "--pairs", "bogus"])
    assert "use 'negation' or a template" in capsys.readouterr().err


def test_stratified_split_is_seeded_disjoint_and_balanced():
    labels = np.array([0] * 60 + [1] * 40)
    train, test = stratified_split(labels, 0.25, seed=3)
    assert len(test) == 25 and not set(train) & set(test) and len(train) + len(test) == 100
    assert labels[test].mean() == pytest.approx(0.4, abs=0.02)
    assert (stratified_split(labels, 0.25, seed=3)[1] == test).all()
    with pytest.raises(ValueError, match="at least 2 of each"):
        stratified_split(np.array([1, 1, 1, 0]), 0.5, seed=0)


def test_negation_pairs_are_row_aligned():
    config = SweepConfig(dataset="cities", pairs="negation", n=50, seed=1)
    data, negated = load_sweep_data(config)
    assert len(data) == len(negated) == 50
    assert negated.statements[7] == data.statements[7].replace(" is in ", " is not in ")
    assert (negated.labels == 1 - data.labels).all()
    control = load_sweep_data(SweepConfig(dataset="cities", pairs="negation", n=50, seed=1, control_token="blick"))[1]
    assert control.statements[7] == data.statements[7].replace(" is in ", " is blick in ")
    with pytest.raises(ValueError, match="only applies to --pairs negation"):
        SweepConfig(dataset="cities", control_token="blick")
    with pytest.raises(ValueError, match="needs --negated"):
        load_sweep_data(SweepConfig(dataset="neg_cities", pairs="negation"))
    with pytest.raises(ValueError, match="not the row-aligned negation"):
        load_sweep_data(SweepConfig(dataset="cities", pairs="negation", negated="neg_larger_than"))


def _planted(n=200, d=16, seed=0):
    """Statements and pairs with a planted truth direction along axis 0."""
    gen = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 2
    sign = torch.tensor(2.0 * labels - 1)
    statements = torch.randn(n, d, generator=gen)
    statements[:, 0] += 2.0 * sign
    pairs = torch.randn(n, 2, d, generator=gen) * 0.3
    pairs[:, 1, 0] += 2.0 * sign
    pairs[:, 0, 0] -= 2.0 * sign
    return statements, pairs, labels


def test_fit_layer_finds_a_planted_direction_and_random_does_not():
    statements, pairs, labels = _planted()
    train, test = stratified_split(labels, 0.3, seed=0)
    # scaled per feature: in raw units the planted truth carries most of the pairs' spread, so any direction reads it
    config = SweepConfig(dataset="synthetic", ccs_epochs=300, random_directions=5, normalize="meanvar")
    records, probs = fit_layer(config, statements, pairs, labels, train, test)
    by = {r["probe"]: r for r in records}
    assert set(by) == {"logistic", "mass_mean", "ccs", "crc", "random"}
    for name in ("logistic", "mass_mean", "ccs", "crc"):
        assert by[name]["accuracy"] > 0.9 and by[name]["auroc"] > 0.95, name
    assert by["random"]["accuracy"] < 0.85 and "accuracy_std" in by["random"]
    assert "sign" in by["ccs"]["sign"] and by["ccs"]["accuracy_either_sign"] >= by["ccs"]["accuracy"]
    assert all(0 <= r[m] <= 1 for r in records for m in METRICS)
    assert probs["ccs"].shape == (len(test),)


def test_report_inlines_plotly_once(tmp_path):
    import plotly.graph_objects as go

    figs = [go.Figure(go.Scatter(x=[0, 1], y=[1, 0])) for _ in range(3)]
    page = write_report(tmp_path / "r.html", "Test", ["<p>hi</p>", *figs]).read_text()
    assert page.count("<script type='text/javascript'>") == 1 and page.count("plotly-graph-div") >= 3
    assert "<script src=" not in page  # nothing to fetch: opens offline


def test_sweep_runs_end_to_end_on_a_tiny_model(tiny, tmp_path):
    csv = tmp_path / "facts.csv"
    rows = ["statement,label,city"] + [f"the city of {c} is in {k} .,{int(ok)},{c}" for c, k, ok in
                                  [("paris", "france", 1), ("paris", "japan", 0), ("tokyo", "japan", 1),
                                   ("tokyo", "peru", 0), ("rome", "italy", 1), ("rome", "egypt", 0),
                                   ("lima", "peru", 1), ("lima", "germany", 0), ("cairo", "egypt", 1),
                                   ("cairo", "italy", 0), ("berlin", "germany", 1), ("berlin", "france", 0)]]
    csv.write_text("\n".join(rows) + "\n")
    config = SweepConfig(dataset=str(csv), out=str(tmp_path / "out"), layers="1,3", ccs_epochs=20, ccs_restarts=2,
                         random_directions=2, test_fraction=0.34, pairs="suffix", cache=str(tmp_path / "cache"))
    summary = run(config, model=tiny("llama"))
    records = summary.tables["by_layer"]
    assert len(records) == 2 * 5 and {r["layer"] for r in records} == {1, 3}
    assert summary["n_train"] + summary["n_test"] == 12 and summary["zero_shot"]["template"] == "suffix"
    held_out = summary["split"]["held_out_groups"]  # whole cities: both statements of each held-out city
    assert summary["split"]["grouped_by"] == "city" and summary["n_test"] == 2 * len(held_out) == 6
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved == json.loads(json.dumps(summary.to_json())) and saved["study"] == "truth_sweep"
    assert saved["headline"]["accuracy_logistic_best_layer"]["value"] == summary["best"]["logistic"]["accuracy"]
    assert (tmp_path / "out" / "report.html").stat().st_size > 100_000
