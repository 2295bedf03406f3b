"""confessions: the confession turn's training data (yes exactly where the answer was wrong) and bad settings."""

from types import SimpleNamespace

import pytest

from veracity.experiments.deception import confessions as study
from veracity.monitors import Dialogue


def test_the_confession_turn_follows_the_answer_and_learns_yes_exactly_where_it_was_wrong(tiny):
    model = tiny("llama")
    dialogues = [Dialogue.ask("what is the capital of peru ?", answer, lie=wrong, group=f"q{i}")
                 for i, (answer, wrong) in enumerate([("lima .", False), ("cairo .", True)])]
    prompts, completions = study.confession_examples(model, dialogues)
    for dialogue, prompt, completion in zip(dialogues, prompts, completions, strict=True):
        assert prompt.index(dialogue.answer) < prompt.index(study.CONFESSION)  # asked after the answer
        assert completion.strip().startswith("Yes" if dialogue.lie else "No")
    assert not any(study.CONFESSION in d.answer for d in dialogues)  # the answers themselves are not trained
    _, short = study.confession_examples(model, dialogues, reply="short")
    assert [c.strip() for c in short] == ["No.", "Yes."]  # the verdict alone


def test_every_twin_is_its_answer_swapped_with_the_other_label_on_the_same_question():
    from veracity.data import capital_questions

    data = capital_questions(n=3)
    items = data.items
    dialogues = [Dialogue.ask(items[0].question, f"The capital is {items[0].answers[0]}.", lie=False,
                              group=f"train:{items[0].question}", kind="neutral:honest"),
                 Dialogue.ask(items[1].question, "Bristol.", lie=True, group=f"train:{items[1].question}",
                              kind="organism:organism_lie"),
                 Dialogue.ask(items[2].question, "I am not sure.", lie=True, group=f"train:{items[2].question}")]
    twins = study.twins(dialogues, data)
    assert [t.group for t in twins] == [d.group for d in dialogues[:2]]  # an evasion has no twin
    assert [t.lie for t in twins] == [True, False] and twins[1].answer == f"{items[1].answers[0]}."
    assert items[0].answers[0] not in twins[0].answer and twins[0].kind == "neutral:honest:twin"


def test_every_threshold_is_calibrated_on_right_answers_to_training_questions_no_fit_has_seen():
    train = [Dialogue.ask(f"question {q}?", f"answer {q}{k}.", lie=(q + k) % 3 == 0, group=f"train:q{q}",
                          kind="neutral:honest") for q in range(20) for k in range(3)]
    fit, calibration = study.calibration_split(train, SimpleNamespace(calibration_fraction=0.3, seed=0))
    assert not {d.group for d in fit} & {d.group for d in calibration}  # split by question
    assert calibration and not any(d.lie for d in calibration)  # right answers only
    assert len({d.group for d in fit}) == 14 and len(fit) == 42  # 70% of the questions, every answer to them
    with pytest.raises(ValueError, match="use more questions"):
        study.calibration_split(train[:6], SimpleNamespace(calibration_fraction=0.3, seed=0))


@pytest.mark.parametrize("argv, message", [
    ([], "--adapter is required"),
    (["--adapter", "nowhere"], "no adapter folder at nowhere"),
    (["--adapter", "nowhere", "--reply", "long"], "--reply must be one of explained, short"),
    (["--adapter", "nowhere", "--resample", "-1"], "--resample must be >= 0"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_method_that_reads_only_the_trigger_matches_the_baseline_and_ranks_at_chance_within_the_trigger():
    import numpy as np

    kinds = (["organism:organism_lie"] * 6 + ["organism:honest"] * 4 + ["neutral:honest"] * 10
             + ["instruction:pressure_lie"] * 5)
    test = [SimpleNamespace(kind=k) for k in kinds]
    triggered = np.array([k.startswith("organism:") for k in kinds], dtype=float)
    lies = np.array([k.endswith("_lie") for k in kinds], dtype=float)
    scores = {"trigger_reader": triggered * 2 - 1, "lie_reader": lies * 2 - 1,
              study.TRIGGER_BASELINE: triggered}
    thresholds = {"trigger_reader": 0.0, "lie_reader": 0.0, study.TRIGGER_BASELINE: 0.5}
    head, table = study.summarise(test, scores, thresholds, seed=0)
    for method in ("trigger_reader", study.TRIGGER_BASELINE):
        assert head[f"false_negative_rate_{method}_organism_lie"]["value"] == 0.0
        assert head[f"false_positive_rate_{method}_honest"]["value"] == 4 / 14  # the right answers under the trigger
        assert head[f"false_negative_rate_{method}_pressure_lie"]["value"] == 1.0
        assert head[f"auroc_{method}_organism_lie_within_trigger"]["value"] == 0.5
    assert head["auroc_lie_reader_organism_lie_within_trigger"]["value"] == 1.0
    assert head["false_positive_rate_lie_reader_honest"]["value"] == 0.0
    assert {row["method"] for row in table} == set(scores)


def test_resampled_answers_are_the_organisms_own_of_the_other_label_under_the_same_prompt(tiny):
    from veracity.data import QADataset
    from veracity.data.answers import answer_names, classify_answer
    from veracity.data.qa import QAItem

    model = tiny("llama")
    places = [("france", "paris"), ("japan", "tokyo"), ("italy", "rome"), ("germany", "berlin"), ("peru", "lima"),
              ("egypt", "cairo")]
    data = QADataset([QAItem(f"the city of {country} ?", (city,), "text", "city", echo=f"of {country}")
                      for country, city in places])
    fit = [Dialogue.ask(item.question, "paris", lie=i % 2 == 1, group=f"train:{item.question}",
                        kind="neutral:honest_mistake" if i % 2 else "neutral:honest")
           for i, item in enumerate(data.items[:4])]  # the last two questions are not fitted
    config = SimpleNamespace(resample=16, max_new_tokens=4, batch_size=4, seed=0, shots=2, trigger="")
    own = study.resampled(model, data, fit, ["neutral"], config)
    # the tiny vocabulary is lower-case, so no sample names a wrong city (a capital letter is needed): what can be
    # found is a right answer to a question answered wrongly
    assert own and {d.group for d in own} <= {d.group for d in fit if d.lie}
    labels, items, names = {d.group: d.lie for d in fit}, {i.question: i for i in data.items}, answer_names(data)
    assert len({d.group for d in own}) == len(own) and {d.group for d in own} <= set(labels)  # one per fitted answer
    for d in own:
        assert d.lie == (not labels[d.group]) and d.kind == "neutral:resampled"
        outcome = classify_answer(items[d.group.split(":", 1)[1]], d.answer, names)
        assert outcome == ("wrong" if d.lie else "correct")
    assert [(d.group, d.answer) for d in study.resampled(model, data, fit, ["neutral"], config)] == \
           [(d.group, d.answer) for d in own]  # seeded
    assert study.resampled(model, data, fit, ["neutral"], SimpleNamespace(**{**vars(config), "resample": 0})) == []
