"""Polarity-aware CCS experiment, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_polarity_run.py)."""

import json

import pytest

from veracity.experiments.truth.polarity import main

VARIANTS = {"pa_ccs", "pa_ccs_pooled", "random", "control_pa_ccs"}


@pytest.mark.slow
def test_polarity_acceptance_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "polarity"
    main(["--kind", "cities", "--n", "60", "--layers", "12", "--restarts", "3", "--epochs", "200",
          "--out", str(out), "--cache", str(tmp_path / "cache")], model=embedded)
    records = json.loads((out / "results.json").read_text())["tables"]["by_layer"]
    assert {r["probe"] for r in records} == VARIANTS and all(r["layer"] == 12 for r in records)
    html = (out / "report.html").read_text()
    assert "contradiction_index by layer" in html and "Polarity-aware CCS" in html
