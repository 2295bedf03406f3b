"""Polarity-aware CCS experiment: config errors, a tiny-model run, and the embedded model."""

import json

import pytest
import torch

from veracity.data import negation_control
from veracity.experiments import load_results
from veracity.experiments.cli import parse_config
from veracity.experiments.truth.polarity import PolarityConfig, extract_cells, load_pairs, run

VARIANTS = {"pa_ccs", "pa_ccs_pooled", "random", "control_pa_ccs"}


def test_config_errors_say_what_to_do(capsys):
    with pytest.raises(ValueError, match="give its row-aligned negations with --negated"):
        PolarityConfig(kind="facts.csv")
    with pytest.raises(ValueError, match="choose from"):
        PolarityConfig(template="nope")
    with pytest.raises(SystemExit):
        parse_config(PolarityConfig, ["--layers", "1-4"])
    assert "every:K" in capsys.readouterr().err


def test_runs_on_a_tiny_model_with_every_variant(tiny, tmp_path):
    config = PolarityConfig(kind="cities", n=24, layers="1,3", restarts=2, epochs=20, template="suffix",
                            out=str(tmp_path / "out"), cache=str(tmp_path / "cache"))
    results = run(config, model=tiny("llama"))
    records = results.tables["by_layer"]
    assert {(r["layer"], r["probe"]) for r in records} == {(layer, v) for layer in (1, 3) for v in VARIANTS}
    for r in records:
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["auroc"] <= 1
        if r["probe"] != "random":
            assert 0 <= r["contradiction_index"] <= 2 and -1 <= r["polar_consistency"] <= 1
    saved = load_results(tmp_path / "out")
    assert saved == json.loads(json.dumps(results.to_json())) and saved["tables"]["by_layer"] == records
    assert " not " in saved["example"]["not_A"] and "accuracy_pa_ccs_best_layer" in saved["headline"]


def test_control_reuses_the_statements_activations(tiny, tmp_path):
    model, config = tiny("llama"), PolarityConfig(n=6, template="suffix", cache=str(tmp_path / "cache"))
    pairs = load_pairs(config)
    real = extract_cells(model, pairs, config, [1, 3])
    control = negation_control(pairs)
    reused = extract_cells(model, control, config, [1, 3], affirmed=real[:, :1])
    assert reused.shape == real.shape == (6, 2, 2, 2, model.d_model)
    torch.testing.assert_close(reused, extract_cells(model, control, config, [1, 3]))
    assert not torch.allclose(reused[:, 1], real[:, 1])  # the not-A cells really are the control's
