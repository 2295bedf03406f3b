"""TruthfulQA study: MC scoring from likelihoods, grouped splits, and the real run at a small size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from veracity.data import TruthfulQAItem
from veracity.experiments.truth.truthfulqa import Config, main, mc_metrics
from veracity.probes.splits import grouped_split

ITEM = TruthfulQAItem(question="q", category="c", kind="Adversarial", best="b", correct=("a", "b"),
                      incorrect=("x", "y"))


def test_mc1_needs_the_best_answer_strictly_first_and_mc2_is_the_true_share():
    # MC2 order: correct (a, b) then incorrect (x, y); the best answer is "b"
    assert mc_metrics(ITEM, np.log([0.1, 0.4, 0.3, 0.2])) == (1.0, pytest.approx(0.5))
    assert mc_metrics(ITEM, np.log([0.5, 0.2, 0.2, 0.1]))[0] == 0.0  # a tie with an incorrect answer is a miss
    assert mc_metrics(ITEM, np.log([0.6, 0.1, 0.2, 0.1])) == (0.0, pytest.approx(0.7))


def test_grouped_split_never_puts_a_group_on_both_sides():
    groups = np.repeat(np.arange(30), 4)
    labels = np.tile([1, 0, 0, 1], 30)
    train, test = grouped_split(groups, 0.3, seed=2, labels=labels)
    assert not set(groups[train]) & set(groups[test])
    assert len(train) + len(test) == len(groups)
    with pytest.raises(ValueError, match="at least 2"):
        grouped_split(np.zeros(5), 0.5, seed=0)


def test_config_says_what_to_do():
    with pytest.raises(ValueError, match="must include 0"):
        Config(coefficients=[0.5])
    with pytest.raises(ValueError, match="int or 'auto'"):
        Config(steer_layer="middle")
    assert Config().steer_index(30) == 15 and Config(steer_layer="-1").steer_index(30) == 29


@pytest.mark.slow
def test_truthfulqa_acceptance_on_the_embedded_model(tmp_path, shared_datasets, embedded):
    out = tmp_path / "tqa"
    argv = ["--data", str(shared_datasets / "truthfulqa" / "TruthfulQA.csv"), "--n", "16", "--layers", "9,18",
            "--n-cities", "24", "--coefficients", "0", "0.5", "--n-steer", "4", "--out", str(out)]
    results = main(argv, model=embedded)
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
    assert main(argv, model=embedded)["headline"] == results["headline"]  # deterministic for a seed


def test_a_question_asked_twice_stays_on_one_side():
    from veracity.experiments.knowing.pik_cross import joint_split
    from veracity.experiments.knowing.pik_parts import split

    questions = [f"What is {i % 13} + 1?" for i in range(40)]  # 13 distinct texts, most asked 3 times
    correct = np.array([int(i % 13 < 6) for i in range(40)])
    for train, test in (split(correct, 0.3, seed=4, questions=questions),
                        joint_split(correct, 1 - correct, 0.3, seed=4, questions=questions)):
        assert not {questions[i] for i in train} & {questions[i] for i in test}
        assert len(train) + len(test) == 40 and set(correct[test]) == {0, 1}
