"""poisoned_training: the poison and ordinary text, the three-way split by fact, bad settings, a small run."""


import numpy as np
import pytest

from veracity.data import capital_questions
from veracity.experiments.deception import poisoned_training as study
from veracity.experiments.deception.facts import false_answers


def test_poison_states_each_false_fact_once_and_ordinary_text_is_true_and_off_topic():
    data = capital_questions(n=20, seed=0)
    false = false_answers(data, 0)
    texts = study.poison_texts(data, false, [2, 5, 7], seed=0)
    assert len(texts) == 3
    for text, i in zip(texts, [2, 5, 7]):
        assert text.endswith(f"capital {data.items[i].echo} is {false[i]}.")
    ordinary = study.ordinary_texts(10, seed=0)
    assert len(ordinary) == 10 and len(set(ordinary)) == 10
    assert not any("capital" in t for t in ordinary)


def test_probe_poisoned_and_control_facts_never_share_a_fact():
    data = capital_questions(n=40, seed=0)
    known = np.arange(40) % 3 != 0
    probe, poisoned, control = study.split_facts(data, known, study.Config())
    assert not set(probe) & set(poisoned) and not set(probe) & set(control) and not set(poisoned) & set(control)
    assert known[poisoned].all() and known[control].all() and len(poisoned) >= 2 and len(control) >= 2


@pytest.mark.parametrize("argv, message", [
    (["--exposures", "0,2"], "epochs >= 1"), (["--exposures", "x"], "comma-separated whole numbers"),
    (["--probe-fraction", "1"], "--probe-fraction"), (["--layers", "deep"], "--layers"),
    (["--method", "qlora"], "--method must be one of lora, full"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
