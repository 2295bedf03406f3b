"""TruthfulQA study, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_truthfulqa_run.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from veracity.data import TruthfulQAItem
from veracity.experiments.truth.truthfulqa import main

ITEM = TruthfulQAItem(question="q", category="c", kind="Adversarial", best="b", correct=("a", "b"),
                      incorrect=("x", "y"))


@pytest.mark.slow
def test_truthfulqa_acceptance_on_the_embedded_model(tmp_path, shared_datasets, embedded):
    out = tmp_path / "tqa"
    argv = ["--data", str(shared_datasets / "truthfulqa" / "TruthfulQA.csv"), "--n", "16", "--layers", "9,18",
            "--n-cities", "24", "--honesty-statements", "6", "--coefficients", "0", "0.5", "--n-steer", "4",
            "--out", str(out)]
    main(argv, model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "truthfulqa" and saved["model"]["id"] == "smollm2-135m"
    assert saved["config"]["n"] == 16 and saved["data"]["n_questions"] == 16
    for name, entry in saved["headline"].items():
        low, high = entry["ci"]
        assert 0 <= low <= entry["value"] <= high <= 1, name
    assert {"mc1", "mc2", "mc1_chance", "probe_auroc", "probe_mc1", "transfer_auroc", "mc1_honesty_+0.5"} <= set(
        saved["headline"])
    # the unsteered row of the sweep is the likelihood MC1 of the same held-out questions
    assert saved["steering"][0]["kl"] == 0.0 and saved["steering"][1]["kl"] > 0
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and {r["split"] for r in rows} == {"train", "test"}
    assert np.mean([r["mc1"] for r in rows]) == pytest.approx(saved["headline"]["mc1"]["value"])
    assert (out / "report.html").stat().st_size > 100_000 and (out / "probe.safetensors").exists()
