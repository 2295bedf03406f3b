"""Cross-model P(IK): the joint split and the real run on both embedded models at a small size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from veracity.experiments.knowing.pik_cross import joint_split, main
from veracity.experiments.knowing.pik_parts import NotEnoughOutcomes


def test_joint_split_keeps_every_pair_of_outcomes_on_both_sides():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    train, test = joint_split(a, b, 0.3, seed=1)
    assert not set(train) & set(test) and len(train) + len(test) == 60
    for side in (train, test):
        assert set(2 * a[side] + b[side]) == {0, 1, 2, 3}
    with pytest.raises(NotEnoughOutcomes, match="model B got 60 of 60"):
        joint_split(a, np.ones(60, dtype=int), 0.3, seed=1)


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
