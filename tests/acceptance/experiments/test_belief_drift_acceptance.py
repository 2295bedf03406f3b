"""belief_drift, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_belief_drift.py)."""

import json

import pytest

from veracity.experiments.deception import belief_drift as study


@pytest.mark.slow
def test_small_run_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "drift"
    study.main(["--n", "24", "--ks", "0,4", "--layers", "6,15", "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "belief_drift" and saved["layer"] in (6, 15)
    for condition in study.CONDITIONS:
        assert {f"answer_flip_{condition}_k0", f"belief_flip_{condition}_k4"} <= set(saved["headline"])
    # k = 0 is the same neutral question for every condition: the same answers
    assert len({saved["headline"][f"answer_flip_{c}_k0"]["value"] for c in study.CONDITIONS}) == 1
    rows = [json.loads(line) for line in (out / "readings.jsonl").read_text().splitlines()]
    assert len(rows) == saved["n_studied"] * len(study.CONDITIONS) * 2
    studied = {r["question"] for r in rows}
    assert len(saved["probe_questions"]) == saved["n_probe_facts"] and not studied & set(saved["probe_questions"])
    margin = saved["margins"][0]["layers"]["6"]
    assert set(margin) == {"p_true_of_true", "p_true_of_false"} and set(margin["p_true_of_true"]) == {"value", "ci"}
    assert "When do beliefs move?" in (out / "report.html").read_text()
