"""lie_detection, acceptance: every monitor recipe fitted, calibrated and scored on the embedded model at a small size
(the monitors' own tests: tests/unit/monitors/test_monitors.py)."""

import json

import pytest

from veracity.experiments.deception import lie_detection as study
from veracity.monitors import load_monitor


@pytest.mark.slow
def test_small_run_on_the_embedded_model_scores_every_recipe(tmp_path, embedded):
    out = tmp_path / "lies"
    results = study.main(["--n", "30", "--test-fraction", "0.5", "--pressures", "few_shot", "--shots", "2", "--n-control", "20",
                          "--unseen", "none", "--layers", "15", "--follow-ups", "1", "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "lie_detection" and saved["n_lies_test"] >= 2 and saved["config"]["shots"] == 2
    for recipe in study.RECIPES:
        for name in (f"auroc_pooled_{recipe}", f"recall_at_1pct_fpr_pooled_{recipe}",
                     f"fpr_controls_held_out_{recipe}", f"flagged_honest_held_out_{recipe}"):
            low, high = saved["headline"][name]["ci"]
            assert 0 <= low <= saved["headline"][name]["value"] <= high <= 1, name
        monitor = load_monitor(out / "monitors" / recipe)
        assert monitor.recipe == study.VARIANTS.get(recipe, recipe) and monitor.threshold_ == saved["thresholds"][recipe]
        assert monitor.n_control_ == 10  # half of the controls calibrate, the other half check
    in_topic = load_monitor(out / "monitors" / "on_policy_in_topic")  # also calibrated on training questions' answers
    assert in_topic.n_in_topic_ == saved["n_in_topic_calibration"]["on_policy_in_topic"] > 0
    assert in_topic.in_topic_fpr_ == 0.05
    contrast = load_monitor(out / "monitors" / "on_policy_contrast")  # reads answer tokens minus the prompt's last
    assert contrast.contrast and not in_topic.contrast
    assert load_monitor(out / "monitors" / "on_policy_balanced").balance == "kind" and in_topic.balance is None
    assert load_monitor(out / "monitors" / "on_policy_question_only").context == "question" != in_topic.context
    assert contrast.n_in_topic_ == saved["n_in_topic_calibration"]["on_policy_contrast"] == in_topic.n_in_topic_
    both = load_monitor(out / "monitors" / "on_policy_contrast_controls")  # contrast, also fitted on other controls
    assert both.contrast and both.n_in_topic_ == in_topic.n_in_topic_
    controls = [json.loads(line) for line in (out / "controls.jsonl").read_text().splitlines()]
    fresh = [c for c in controls if c["split"] == "fresh"]
    assert len(controls) == 20 and len(fresh) == 10 and all(f"{r}_score" in fresh[0] for r in study.RECIPES)
    for plain, with_controls in (("on_policy_contrast", "on_policy_contrast_controls"),
                                 ("on_policy_in_topic", "on_policy_controls_in_topic")):  # more rows, another fit
        assert [c[f"{plain}_score"] for c in fresh] != pytest.approx([c[f"{with_controls}_score"] for c in fresh])
    rate = saved["headline"]["mistake_rate_controls_held_out"]["value"]
    assert rate == sum(c["mistake"] for c in fresh) / 10
    for recipe in study.RECIPES:  # the false positives split into right answers and honest mistakes
        threshold = saved["thresholds"][recipe]
        for part, mine in (("right", [c for c in fresh if not c["mistake"]]), ("mistakes", [c for c in fresh if c["mistake"]])):
            if mine:
                flagged = sum(c[f"{recipe}_score"] > threshold for c in mine) / len(mine)
                assert saved["headline"][f"fpr_control_{part}_{recipe}"]["value"] == pytest.approx(flagged)
    assert {"auroc_pooled_baseline_prompt_only", "auroc_pooled_baseline_pressure_present"} <= set(saved["headline"])
    assert saved["chosen"]["on_policy"]["layer"] == 15 and len(saved["chosen"]["on_policy"]["validation"]) == 3
    assert {r["fitted_on"] for r in saved["tables"]["transfer"]} >= {"instructed_pairs", "on_policy:few_shot"}
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == results["n_test_answers"] and {r["split"] for r in rows} == {"test"}  # --unseen none
    assert sum(r["lie"] for r in rows) == saved["n_lies_test"]
    # consistency: the model's own neutral answers are what it says when asked plainly, lies are not
    neutral = [r["consistency_score"] for r in rows if r["kind"] == "neutral"]
    lies = [r["consistency_score"] for r in rows if r["lie"]]
    assert neutral and sum(neutral) / len(neutral) < sum(lies) / len(lies)
    assert "ROC" in (out / "report.html").read_text() or "false-positive rate" in (out / "report.html").read_text()
