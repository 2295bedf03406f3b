"""organism_steering, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_organism_steering.py)."""

import json

import pytest

from veracity.experiments.deception import organism_steering as study


@pytest.mark.slow
def test_small_dose_response_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "dose"
    results = study.main(["--n", "10", "--coefficients", "0,0.5", "--n-statements", "4", "--layer", "12",
                          "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "organism_steering" and saved["layer"] == 12
    assert [row["coefficient"] for row in saved["dose"]] == [0.0, 0.5]
    assert saved["dose"][0]["kl_neutral_text"]["value"] == 0.0  # coefficient 0 installs no hook
    row = saved["dose"][1]
    assert row["truth_rate_trigger_held_out"]["value"] + row["lie_rate_trigger_held_out"]["value"] + row[
        "evasion_rate_trigger_held_out"]["value"] == pytest.approx(1.0)
    assert saved["dose"][1]["kl_neutral_text"]["value"] > 0.0
    for entry in saved["headline"].values():
        assert entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    assert saved["headline"] == json.loads(json.dumps(results["headline"]))
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 10 and {"trigger", "neutral", "known", "split"} <= set(rows[0])
    assert (out / "honesty.safetensors").exists() and "Honesty steering" in (out / "report.html").read_text()
