"""belief_drift: the contexts and claims, the say-vs-believe timing, bad settings, and a small run."""


import numpy as np
import pytest

from veracity.data import capital_questions, grade
from veracity.experiments.deception import belief_drift as study
from veracity.experiments.deception.facts import false_answers, statement


def test_claims_are_false_statements_of_the_fact_and_controls_are_what_they_say():
    data = capital_questions(n=12, seed=0)
    false = false_answers(data, seed=0)
    for i, item in enumerate(data.items):
        assert not grade(item, false[i]) and false[i] == item.decoys[0]
    item = data.items[0]
    assert study.claims(data, 0, "contradict", false, 3) == f"The capital {item.echo} is {false[0]}."
    assert study.claims(data, 0, "repeat_true", false, 3) == f"The capital {item.echo} is {item.answers[0]}."
    assert study.claims(data, 0, "unrelated", false, 3) == statement(data.items[3], false[3])
    assert study.claims(data, 0, "persuade", false, 3).endswith(study.claims(data, 0, "contradict", false, 3))


def _rows(k_answer, k_belief, p0=(0.9, 0.1)):
    rows = []
    for k in (0, 1, 2, 4):
        answer_flipped = k >= k_answer
        belief_flipped = k >= k_belief
        p_true, p_false = (0.2, 0.8) if belief_flipped else p0
        rows.append({"k": k, "outcome": "claim" if answer_flipped else "truth", "p_true_L3": p_true,
                     "p_false_L3": p_false})
    return rows


def test_timing_says_which_moved_first_and_skips_facts_the_probe_misreads_at_k0():
    facts = {"a": _rows(2, 1), "b": _rows(2, 2), "c": _rows(1, 4), "d": _rows(9, 9), "e": _rows(1, 1, p0=(0.3, 0.6))}
    flags, summary = study.timing(facts, 3)
    assert summary["n_facts"] == 4  # "e" reads false already without any claim
    assert {t: int(v.sum()) for t, v in flags.items()} == {"belief_first": 1, "together": 1, "answer_first": 1,
                                                           "neither": 1}
    assert summary["k_answer"][:3] == [2, 2, 1] and np.isinf(summary["k_belief"][3])


@pytest.mark.parametrize("argv, message", [
    (["--ks", "1,2"], "must include 0"), (["--ks", "a"], "comma-separated whole numbers"),
    (["--layers", "middle"], "--layers"), (["--test-fraction", "0"], "--test-fraction"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_swapped_false_answers_are_other_questions_answers():
    data = capital_questions(n=12, seed=0)
    capitals = {item.answers[0] for item in data.items}
    swapped = false_answers(data, seed=0, kind="swap")
    assert all(s in capitals and not grade(item, s) for item, s in zip(data.items, swapped))
    with pytest.raises(ValueError, match="decoy, swap"):
        false_answers(data, seed=0, kind="random")


def test_an_unknown_false_kind_fails_before_any_model_loads(capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--false", "random"])
    assert exit_info.value.code == 2 and "--false must be one of decoy, swap" in capsys.readouterr().err
