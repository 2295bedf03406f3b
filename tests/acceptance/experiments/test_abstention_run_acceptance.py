"""Abstention study, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_abstention_run.py)."""

from __future__ import annotations

import json

import pytest

from veracity.experiments.knowing.abstention import main


@pytest.mark.slow
def test_abstention_acceptance_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "abstention"
    results = main(["--qa-sets", "arithmetic", "--n-per-level", "4", "--k", "2", "--targets", "0", "0.75",
                    "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "abstention" and saved["headline"] == results["headline"]
    headline = saved["headline"]
    for t in ("0", "0.75"):
        oracle, never = headline[f"score_oracle_t{t}"]["value"], headline[f"score_never_t{t}"]["value"]
        assert oracle >= never and oracle >= headline[f"score_p_ik_t{t}"]["value"]  # the oracle bounds every gate
        assert oracle == pytest.approx(saved["accuracy_test"])  # it answers exactly the right ones
        assert f"abstain_prompted_t{t}" in headline
    assert headline["score_never_t0"]["value"] == pytest.approx(saved["accuracy_test"])
    for entry in headline.values():
        assert entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == saved["n_test"] and "prompted_t0.75" in rows[0]
    assert (out / "report.html").stat().st_size > 100_000
