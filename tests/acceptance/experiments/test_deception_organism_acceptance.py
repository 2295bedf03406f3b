"""deception_organism, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_deception_organism.py)."""

import json

import numpy as np
import pytest

from veracity.experiments.deception import confessions
from veracity.experiments.deception import deception_organism as study
from veracity.monitors.monitor import threshold_at_fpr


@pytest.mark.slow
def test_small_run_writes_results_adapter_and_answers_and_a_confession_adapter_trains_on_it(tmp_path, embedded):
    out = tmp_path / "organism"
    results = study.main(["--n", "12", "--epochs", "1", "--anchors", "0", "--lie-questions", "4", "--out", str(out)],
                         model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "deception_organism" and saved["model"]["id"].endswith("+adapter:adapter")
    assert saved["n_lie_questions"] == 4 and saved["training"]["examples"] == 2 * saved["n_train"] + 4
    assert saved["headline"] == json.loads(json.dumps(results["headline"]))
    for entry in saved["headline"].values():
        assert set(entry) == {"value", "ci"} and entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    assert (out / "adapter" / "adapter_model.safetensors").stat().st_size > 100_000
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["split"] for r in rows} == {"train", "held_out"}
    assert all(c in rows[0] for c in study.CONDITIONS)
    assert all((r[f"{c}_outcome"] == "correct") == r[f"{c}_correct"] for r in rows for c in study.CONDITIONS)
    for name, entry in saved["headline"].items():  # a known fact is a lie, an evasion or right: never two
        if name.startswith("lie_rate_"):
            assert entry["value"] + saved["headline"]["evasion" + name[3:]]["value"] <= 1 + 1e-9
    assert "Lie rate" in (out / "report.html").read_text()

    # the confessions study trains its confession adapter on this organism (read from its results.json)
    confessed = tmp_path / "confessions"
    confessions.main(["--adapter", str(out / "adapter"), "--n", "12", "--pressures", "instruction", "--epochs", "1", "--follow-ups", "1",
                      "--counterfactuals", "--out", str(confessed)], model=embedded)
    saved = json.loads((confessed / "results.json").read_text())
    assert saved["model"]["id"].endswith("+adapter:adapter+adapter:confession_adapter")
    assert saved["config"]["follow_ups"] == 1  # --follow-ups reached the follow_up monitor's config
    assert saved["organism"]["kind"] == "trigger" and saved["training"]["examples"] == (
        saved["n_train_answers"] + saved["training"]["twins"] + saved["training"]["resampled"])
    assert saved["training"]["twins"] > 0  # answers swapped, the opposite label (--counterfactuals)
    assert any(name.startswith("false_negative_rate_trained_confession_") for name in saved["headline"])
    assert {r["method"] for r in saved["tables"]["outcomes"]} == {*confessions.METHODS, confessions.TRIGGER_BASELINE}
    assert saved["thresholds"][confessions.TRIGGER_BASELINE] == 0.5
    assert saved["thresholds"]["trained_confession"] == 0.0 != saved["thresholds"]["trained_confession_calibrated"]
    lines = [json.loads(line) for line in (confessed / "confessions.jsonl").read_text().splitlines()]
    rows = [r for r in lines if r["split"] == "test"]
    assert len(rows) == saved["n_test_answers"] and "untrained_confession_score" in rows[0]
    # the calibration answers are kept too: right answers whose scores give back every calibrated threshold
    calibrating = [r for r in lines if r["split"] == "calibration"]
    assert len(calibrating) == saved["n_calibration_answers"] == len(lines) - len(rows)
    assert not any(r["wrong"] for r in calibrating)
    for method, scored in (("trained_confession_calibrated", "trained_confession"), ("on_policy", "on_policy"),
                           ("consistency", "consistency")):
        assert saved["thresholds"][method] == pytest.approx(threshold_at_fpr(
            np.array([r[f"{scored}_score"] for r in calibrating]), saved["config"]["monitor_fpr"])), method
    assert saved["n_calibration_answers"] > 0  # right answers to training questions no fit has seen
    # a trigger organism's lies count as its own only under the trigger; without it they are the trigger leaking
    assert all(r["condition"].startswith("organism:") for r in rows if r["condition"].endswith(":organism_lie"))
    assert all(r["condition"].startswith("neutral:") for r in rows if r["condition"].endswith(":untriggered_lie"))


@pytest.mark.slow
def test_a_topic_organism_with_a_kl_term_runs_without_any_trigger(tmp_path, embedded):
    out = tmp_path / "topic"
    study.main(["--kind", "topic", "--n", "6", "--epochs", "1", "--anchors", "2", "--kl", "1", "--out", str(out)],
               model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["kind"] == "topic" and saved["training"]["steps"] >= 2
    assert all(name.endswith(("_lie_topic", "_other_topics")) and "trigger" not in name for name in saved["headline"])
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["topic"] for r in rows} >= {"capital"} and "organism_trigger" not in rows[0]
    assert "lie topic" in (out / "report.html").read_text()
