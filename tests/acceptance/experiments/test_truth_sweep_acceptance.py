"""Truth sweep, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_truth_sweep.py)."""

import json

import pytest

from veracity.experiments.truth.truth_sweep import (
    main,
)

METRICS = ("accuracy", "auroc", "ece")


@pytest.mark.slow
def test_truth_sweep_acceptance_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "sweep"
    main(["--dataset", "cities", "--n", "40", "--layers", "8,16", "--out", str(out), "--ccs-epochs", "200",
          "--random-directions", "3", "--cache", str(tmp_path / "cache")], model=embedded)
    summary = json.loads((out / "results.json").read_text())
    records = summary["tables"]["by_layer"]
    assert {(r["layer"], r["probe"]) for r in records} == {(layer, p) for layer in (8, 16)
                                                           for p in ("logistic", "mass_mean", "ccs", "crc", "random")}
    for r in records:
        assert {"layer", "probe", *METRICS, "dataset", "n_train", "n_test", "sign"} <= set(r)
        assert all(0.0 <= r[m] <= 1.0 for m in METRICS)
    assert summary["best"]["logistic"]["accuracy"] >= 0.6
    assert summary["example_pair"]["yes"].endswith("Answer: True")
    html = (out / "report.html").read_text()
    assert "Held-out accuracy by layer" in html and "Reliability diagram" in html and "PCA" in html
