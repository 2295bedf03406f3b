"""Both steering experiments end to end on the embedded model at a small size: files, JSON structure, GGUF
round trips, coefficient 0 equal to the baseline. They do not assert that steering "works": the numbers are
recorded as measured (the unit tests: tests/unit/experiments/test_steering_experiments.py)."""

import json
import re

import gguf
import pytest
import torch

from veracity.steering import SteeringVector, from_gguf


def check_gguf_matches(vector_path, gguf_path):
    vector = SteeringVector.load(vector_path)
    reader = gguf.GGUFReader(str(gguf_path))
    assert reader.get_field("general.architecture").contents() == "controlvector"
    assert reader.get_field("controlvector.layer_count").contents() == len([L for L in vector.layers if L > 0])
    exported = from_gguf(gguf_path)
    assert exported.layers == [L for L in vector.layers if L > 0]
    for layer in exported.layers:
        assert torch.equal(exported[layer], vector[layer])
    return vector


def check_report(path):
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*src=[\"']https?:", html), "no external scripts: opens offline"
    assert "Plotly.newPlot" in html and len(html) > 1_000_000, "plotly.js inlined"


@pytest.mark.slow
def test_honesty_steering_end_to_end(tmp_path, embedded):
    from veracity.experiments.steering.honesty_steering import main

    out = tmp_path / "honesty"
    main(["--out", str(out), "--n-train", "4", "--n-test", "6", "--n-neutral", "2", "--shots", "1",
          "--layers", "10", "--coefficients", "0", "0.25"], model=embedded)
    for name in ("results.json", "report.html", "honesty.safetensors", "honesty.json", "honesty.gguf"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"study", "config", "model", "headline", "tables", "vector", "baseline", "files", "runtime_s"}
    results["sweep"] = results["tables"]["sweep"]
    low, high = results["headline"]["truthful_rate_lie_layer10_c+0.25"]["ci"]
    assert low <= results["sweep"][1]["truthful_rate"] <= high
    assert results["model"] == {"id": "smollm2-135m", "n_layers": 30, "d_model": 576}
    assert [(r["layer"], r["coefficient"]) for r in results["sweep"]] == [(10, 0.0), (10, 0.25)]
    keys = {"truthful_rate", "p_correct", "pair_rate", "kl", "perplexity"}
    assert all(keys <= set(r) for r in results["sweep"])
    zero = results["sweep"][0]
    assert {k: zero[k] for k in keys} == {k: results["baseline"]["lie"][k] for k in keys}, "coefficient 0 = baseline"
    assert zero["kl"] == 0.0 and results["sweep"][1]["kl"] > 0
    vector = check_gguf_matches(out / "honesty.json", out / "honesty.gguf")
    assert vector.layers == [10] and vector.model_id == "smollm2-135m" and vector.extra["concept"] == "honesty"
    check_report(out / "report.html")


@pytest.mark.slow
def test_east_bandit_end_to_end(tmp_path, embedded):
    from veracity.experiments.steering.east_bandit import main

    out = tmp_path / "east"
    main(["--out", str(out), "--n-episodes", "3", "--n-eval-episodes", "2", "--n-rounds", "3",
          "--coefficients", "0", "0.5", "--temperatures", "1", "2", "--rollout-episodes", "1"], model=embedded)
    for name in ("results.json", "report.html", "east.safetensors", "east.json", "east.gguf"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"study", "config", "model", "headline", "tables", "bandit", "collection", "vector"}
    results.update(results["tables"])
    assert results["headline"]["entropy_east_c+0"]["value"] == results["headline"]["entropy_temperature_1"]["value"]
    assert results["collection"]["decisions"] == 9 and results["collection"]["eval_decisions"] == 6
    zero = next(r for r in results["steering"] if r["coefficient"] == 0)
    t1 = next(r for r in results["temperature"] if r["temperature"] == 1)
    assert zero["entropy"] == t1["entropy"] and zero["shares"] == t1["shares"], "coefficient 0 = unsteered T=1"
    assert set(zero["shares"]) == {"A", "B", "C", "D", "E"}
    assert sum(zero["shares"].values()) == pytest.approx(1.0, abs=1e-5)
    assert {"chosen_entropy", "reward_rate", "decision_entropy"} <= set(zero["rollout"])
    vector = check_gguf_matches(out / "east.json", out / "east.gguf")
    assert vector.method == "east" and vector.layers == [15]
    check_report(out / "report.html")
