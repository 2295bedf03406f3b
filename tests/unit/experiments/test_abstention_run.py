"""Abstention study: the scoring rule, the gates, the stated-target prompt and the real run at a small size."""

from __future__ import annotations

import numpy as np
import pytest

from veracity.experiments.knowing.abstention import Config
from veracity.experiments.knowing.targets import ABSTAIN, abstains, gate, penalty, scores


def test_scoring_rule_pays_exactly_when_confidence_beats_the_target():
    correct = np.array([1, 0, 1, 0])
    answered = np.array([True, True, False, False])
    assert scores(correct, answered, 0.75).tolist() == [1.0, -3.0, 0.0, 0.0]
    assert penalty(0.5) == 1.0 and penalty(0.0) == 0.0
    # at target t, a question right with probability p is worth p - (1 - p) t / (1 - t): zero exactly at p = t
    for t in (0.5, 0.75, 0.9):
        assert t - (1 - t) * penalty(t) == pytest.approx(0.0)


def test_gates_answer_above_the_target_and_an_unparsed_confidence_cannot_gate():
    conf = np.array([0.2, 0.8, np.nan, 0.5])
    correct = np.array([0, 1, 1, 0])
    assert gate(conf, correct, "p_ik", 0.5).tolist() == [False, True, True, False]
    assert gate(conf, correct, "never", 0.9).all()
    assert gate(conf, correct, "oracle", 0.9).tolist() == [False, True, True, False]


def test_abstentions_are_recognised():
    assert all(ABSTAIN.search(r) for r in ["I don't know.", "I do not know", "Not sure", "I can't answer that"])
    assert not any(ABSTAIN.search(r) for r in ["Paris", "Knowledge is power", "42"])


def test_an_abstention_is_read_where_the_answer_is_graded(tiny):
    model = tiny("llama")  # no chat template: a plain prompt, whose reply runs on past its first line
    assert not abstains(model.tokenizer, "Abuja\nI don't know.\nI don't know.")  # answered Abuja, then ran on
    assert abstains(model.tokenizer, " I don't know.\nQuestion: What is 2 + 2?")
    model.tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    assert abstains(model.tokenizer, "Abuja\nI don't know.")  # a chat reply is read whole


def test_config_says_what_to_do():
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        Config(targets=[0.5, 1.0])
    with pytest.raises(ValueError, match="--n must be >= 0"):
        Config(n=-1)


def test_own_questions_file(tmp_path):
    from veracity.data import load_questions_csv

    path = tmp_path / "facts.csv"
    path.write_text("question,answer,topic\nWhat is 6 times 7?,42,maths\nCapital of Peru?,Lima|Lima city,geo\n")
    data = load_questions_csv(path)
    assert [i.kind for i in data.items] == ["number", "text"] and data.items[1].answers == ("Lima", "Lima city")
    assert [i.category for i in data.items] == ["maths", "geo"]
    path.write_text("question,reply\nq,a\n")
    with pytest.raises(ValueError, match="columns question,answer"):
        load_questions_csv(path)
    path.write_text("question,answer\nq,\n")
    with pytest.raises(ValueError, match="row 2 has no question or no answer"):
        load_questions_csv(path)
