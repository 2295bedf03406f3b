"""Cross-model P(IK), acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_pik_cross_run.py)."""

from __future__ import annotations

import json

import pytest

from veracity.experiments.knowing.pik_cross import main


@pytest.mark.slow
def test_pik_cross_acceptance_on_both_embedded_models(tmp_path, embedded, embedded_gemma):
    out = tmp_path / "cross"
    main(["--qa-sets", "capitals", "--n-capitals", "40", "--k", "0", "--target", "greedy", "--out", str(out)],
         model=embedded, other=embedded_gemma)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "pik_cross"
    assert [saved["models"][r]["id"] for r in "AB"] == ["smollm2-135m", "gemma3-270m"]
    assert sum(saved["agreement"].values()) == saved["n_questions"] == 40
    headline = saved["headline"]
    for key, entry in headline.items():
        assert 0 <= entry["ci"][0] <= entry["value"] <= entry["ci"][1] <= 1, key
    # on questions exactly one model gets right, A's correctness is the opposite of B's
    for x in "AB":
        for labels in "AB":
            a = headline.get(f"auroc_{x}acts_{labels}labels_vs_A_disagree")
            if a is not None:
                assert a["value"] == pytest.approx(1 - headline[f"auroc_{x}acts_{labels}labels_vs_B_disagree"]["value"])
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and {"A_correct", "B_correct", "p_ik_Aacts_Blabels"} <= set(rows[0])
    assert (out / "report.html").stat().st_size > 100_000
