"""TruthfulQA study: MC scoring from likelihoods, grouped splits, and the real run at a small size."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.data import TruthfulQAItem
from veracity.experiments.truth.truthfulqa import Config, mc_metrics
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


def test_a_question_asked_twice_stays_on_one_side():
    from veracity.experiments.knowing.pik_cross import joint_split
    from veracity.experiments.knowing.pik_parts import split

    questions = [f"What is {i % 13} + 1?" for i in range(40)]  # 13 distinct texts, most asked 3 times
    correct = np.array([int(i % 13 < 6) for i in range(40)])
    for train, test in (split(correct, 0.3, seed=4, questions=questions),
                        joint_split(correct, 1 - correct, 0.3, seed=4, questions=questions)):
        assert not {questions[i] for i in train} & {questions[i] for i in test}
        assert len(train) + len(test) == 40 and set(correct[test]) == {0, 1}


def test_no_answer_text_sits_on_both_sides_of_the_probe_split():
    from veracity.experiments.truth.truthfulqa import keep_answers_on_one_side

    answers = np.array(["i have no comment", "paris", "no", "i have no comment", "lyon", "no", "rome"])
    train, dropped = keep_answers_on_one_side(np.array([0, 1, 2]), np.array([3, 4, 5, 6]), answers)
    assert train.tolist() == [1] and dropped == 2
    assert not set(answers[train]) & set(answers[[3, 4, 5, 6]])
