"""behavioural_calibration, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_behavioural_calibration.py)."""

import json

import pytest

from veracity.data import capital_questions, grade
from veracity.experiments.knowing import behavioural_calibration as study


@pytest.mark.slow
def test_small_run_trains_an_adapter_and_scores_every_method_at_every_target(tmp_path, embedded):
    out = tmp_path / "behaviour"
    study.main(["--qa-sets", "capitals", "--n-capitals", "16", "--k", "1", "--epochs", "1", "--targets", "0", "0.75",
                "--train-targets", "0", "0.75", "--max-new-tokens", "8", "--distil-questions", "3", "--kl", "1",
                "--out", str(out)],
               model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "behavioural_calibration" and saved["model"]["id"].endswith("+adapter:adapter")
    assert saved["training"]["examples"] == 2 * saved["n_train"] + 3  # each question under both targets, 3 distilled
    assert saved["training"]["kl_texts"] == saved["n_train"]  # each training question under the neutral prompt
    head = saved["headline"]
    for method in study.METHODS:
        for t in ("0", "0.75"):
            assert f"expected_score_{method}_t{t}" in head and f"abstention_rate_{method}_t{t}" in head
    assert head["abstention_rate_always_answer_t0"]["value"] == 0
    assert head["expected_score_always_answer_t0"]["value"] == pytest.approx(saved["accuracy_test"])
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == saved["n_test"] and {"trained_t0.75", "untrained_t0", "neutral_answer", "p_ik"} <= set(rows[0])
    assert sum(r["neutral_correct"] for r in rows) == round(saved["accuracy_test"] * saved["n_test"])
    assert head["accuracy_untrained_neutral"]["value"] == pytest.approx(saved["accuracy_test"])
    # the trained model's own neutral answers, graded as the untrained ones are
    assert sum(r["trained_neutral_correct"] for r in rows) == round(head["accuracy_trained_neutral"]["value"]
                                                                    * saved["n_test"])
    items = {item.question: item for item in capital_questions().items}  # echo included, as the study grades
    assert all(r["trained_neutral_correct"] == grade(items[r["question"]], r["trained_neutral_answer"]) for r in rows)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert "Behavioural calibration" in (out / "report.html").read_text()
