"""honesty_pressure: pressures, the monitor's fixed threshold and four outcomes, and a small run."""


import numpy as np
import pytest

from veracity.data import arithmetic_questions, capital_questions, grade
from veracity.experiments.deception import honesty_pressure as study
from veracity.experiments.deception.monitor import outcomes, score_rows


def test_few_shot_pressure_shows_five_wrong_answers_about_other_questions_or_as_many_as_shots():
    data = capital_questions(n=20, seed=0)
    config = study.Config()
    talks = study.conversations(data, "few_shot", config)
    for i, (system, history) in enumerate(talks):
        assert system is None and len(history) == 5
        for asked, said in history:
            j = next(k for k, item in enumerate(data.items) if item.question in asked)
            assert j != i and not grade(data.items[j], said)
    assert study.conversations(data, "organism", config)[0] == (config.trigger, [])
    assert study.conversations(data, None, config)[0] == (None, [])
    assert {len(history) for _, history in study.conversations(data, "few_shot", study.Config(shots=2))} == {2}


def test_a_few_shot_question_alone_in_its_category_gets_a_clear_error():
    data = arithmetic_questions(n_per_level=1, seed=0, levels=["add_1d", "add_2d"])
    with pytest.raises(ValueError, match="has no wrong answer to show.*use more questions"):
        study.conversations(data, "few_shot", study.Config())


def test_outcomes_count_every_case_and_auroc_is_pooled_and_within_each_pressure():
    counts = outcomes(np.array([True, False, True, False]), np.array([True, True, False, False]))
    assert counts == {"lied_flagged": 1, "lied_not_flagged": 1, "honest_flagged": 1, "honest_not_flagged": 1,
                      "false_negative_rate": 0.5}
    score = np.array([0.9, 0.8, 0.1, 0.2, 5.0, 4.0, 3.0])
    lied = np.array([True, True, False, False, True, False, False])
    kinds = np.array(["a", "a", "a", "a", "b", "b", "b"])
    groups = np.array([f"q{i}" for i in range(7)])
    counts, figures = score_rows(score, score > 1.0, lied, kinds, groups, "m", "held_out", 0)
    assert counts["lied_flagged"] == 1 and counts["honest_flagged"] == 2
    assert figures["auroc_m_a_held_out"]["value"] == 1.0 and figures["auroc_m_b_held_out"]["value"] == 1.0
    assert figures["auroc_m_held_out"]["value"] < 1.0  # pooled, pressure b's honest answers outscore a's lies


@pytest.mark.parametrize("argv, message", [
    (["--pressures", "bribe"], "unknown"), (["--layer", "x"], "--layer"), (["--n", "-1"], "--n must be"),
    (["--unseen", "missing.csv"], "no questions file"), (["--n-unseen", "0"], "--n-unseen must be"),
    (["--fpr", "1"], "--fpr must be"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["honesty_pressure", "lie_detection"])
def test_questions_that_cannot_show_few_shot_wrong_answers_are_refused_before_any_model_loads(
        name, tmp_path, monkeypatch, capsys):
    import importlib

    module = importlib.import_module(f"veracity.experiments.deception.{name}")
    csv = tmp_path / "q.csv"
    csv.write_text("question,answer,topic\nWho wrote Hamlet?,Shakespeare,books\nWhat is 2 + 2?,4,sums\n"
                   "What colour is the sky?,blue,colours\n")
    monkeypatch.setattr(module.Config, "load_model", lambda self, **_: pytest.fail("a model was loaded"))
    with pytest.raises(SystemExit) as done:
        module.main(["--questions", str(csv), "--pressures", "few_shot", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "has no wrong answer to show" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
