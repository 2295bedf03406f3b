"""behavioural_calibration: its training targets (answer exactly where the chance of being right exceeds t, and
always at t = 0)."""

import numpy as np
import pytest

from veracity.data import capital_questions
from veracity.experiments.knowing import behavioural_calibration as study
from veracity.experiments.knowing.pik_parts import build_questions
from veracity.hooks.generation import qa_prompts


def test_each_training_question_is_answered_under_a_target_exactly_when_its_chance_exceeds_it(tiny):
    # chance[0] is 0: answered at t = 0 (a wrong answer costs nothing), abstained at t = 0.5
    data = capital_questions(n=10, seed=0)
    chance = np.linspace(0, 1, 10)
    train = np.array([0, 3, 5, 9])
    config = study.Config(train_targets=[0.0, 0.5], answer_with="truth", out="")
    prompts, completions = study.training_examples(tiny("llama"), data, chance, train, config)
    assert len(prompts) == len(completions) == 2 * len(train)
    for k, (t, i) in enumerate((t, i) for t in (0.0, 0.5) for i in train):
        assert data.items[i].question in prompts[k] and f"more than {round(100 * t)}%" in prompts[k]
        expected = data.items[i].answers[0] if chance[i] > t or t == 0 else study.ABSTAIN_REPLY
        assert completions[k].strip() == expected
    assert completions[0].strip() == data.items[0].answers[0]  # chance 0, t = 0: answered
    assert completions[len(train)].strip() == study.ABSTAIN_REPLY  # chance 0, t = 0.5: abstained
    assert study.abstain_share(completions) == 0.5 * np.mean(chance[train] <= 0.5)  # counted on plain prompts too
    own = [f"I think it is {item.answers[0]}x." for item in data.items]  # the model's own words, right or wrong
    _, mine = study.training_examples(tiny("llama"), data, chance, train, study.Config(train_targets=[0.0, 0.5],
                                                                                        out=""), own=own)
    assert [c.strip() for c in mine] == [own[i] for i in train] + [
        own[i] if chance[i] > 0.5 else study.ABSTAIN_REPLY for i in train]
    run_on = [f"{words}\nQuestion: and the capital of Peru?" for words in own]  # a base model runs on past its answer
    _, first_lines = study.training_examples(tiny("llama"), data, chance, train, study.Config(train_targets=[0.0],
                                                                                              out=""), own=run_on)
    assert [c.strip() for c in first_lines] == [own[i] for i in train]  # no chat template: the answer's first line


def test_distilled_questions_are_none_of_the_study_s_and_are_answered_under_the_t0_target(tiny):
    config = study.Config(qa_sets="arithmetic,capitals", n_per_level=3, n_capitals=10, distil_questions=12, out="")
    data = build_questions(config)
    extra = study.distil_set(data, config)
    assert len(extra) == 12 == len(set(extra.questions)) and not set(extra.questions) & set(data.questions)
    assert extra.questions == study.distil_set(data, config).questions  # seeded
    prompts, completions = study.distil_examples(tiny("llama"), extra, config)
    assert len(prompts) == len(completions) == 12
    assert all(q in p and "more than 0% confident" in p for q, p in zip(extra.questions, prompts, strict=True))
    most = study.Config(qa_sets="capitals", n_capitals=150, distil_questions=10, out="")  # 7 of 157 capitals left
    with pytest.raises(ValueError, match="only 7 questions outside the study; ask for fewer"):
        study.distil_set(build_questions(most), most)


def test_kl_texts_are_the_training_questions_under_the_neutral_prompt_with_the_model_s_own_first_line(tiny):
    data = capital_questions(n=6, seed=0)
    rows = np.array([4, 1])
    greedy = [f"City{i}\nQuestion: and Peru?" for i in range(6)]  # a base model runs on past its answer
    texts = study.neutral_texts(tiny("llama"), data, rows, greedy)
    prompts = qa_prompts(tiny("llama"), data.subset(rows))
    assert texts == [prompts[0] + " City4\n", prompts[1] + " City1\n"]  # no target stated, the answer's first line
    assert all("confident" not in t for t in texts)


@pytest.mark.parametrize("argv, message", [
    (["--train-targets", "1"], "--train-targets must be numbers in [0, 1)"),
    (["--targets", "-0.1"], "--targets must be numbers in [0, 1)"),
    (["--k", "0", "--target", "greedy"], "--k must be >= 1"),
    (["--answer-with", "guess"], "--answer-with must be own or truth"),
    (["--distil-questions", "-1"], "distil"),
    (["--kl", "-1"], "kl"),
    (["--questions", "QUESTIONS", "--distil-questions", "5"], "with --questions leave it at 0"),
    (["--qa-sets", "capitals", "--n-capitals", "150", "--distil-questions", "10"], "only 7 questions outside the study"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(study.Config, "load_model", lambda *_, **__: pytest.fail("a model was loaded"))
    questions = tmp_path / "q.csv"
    questions.write_text("question,answer\nWhat is 2 + 2?,4\nWhat is the capital of Peru?,Lima\n")
    with pytest.raises(SystemExit) as exit_info:
        study.main([str(questions) if a == "QUESTIONS" else a for a in argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
