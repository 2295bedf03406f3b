"""lie_detection: which organism it monitors (read from the organism's own results.json) and which topic is unseen."""

import json
from dataclasses import replace

import pytest

from veracity.data import QADataset, capital_questions
from veracity.experiments.deception import TRIGGER
from veracity.experiments.deception import lie_detection as study
from veracity.experiments.deception.organism_kinds import SANDBAGGING, kind_questions, organism_record


def _monitoring(tmp_path, size: int, /, **organism) -> study.Config:
    """A config that monitors an organism whose deception_organism run recorded ``organism`` (its adapter folder is
    not read here, so an empty one stands in after the config's own adapter check)."""
    (tmp_path / "adapter").mkdir()
    (tmp_path / "results.json").write_text(json.dumps({"study": "deception_organism", "config": organism}))
    config = study.Config(n=size, out=str(tmp_path / "out"))
    config.adapter = str(tmp_path / "adapter")
    return config


def test_a_sandbagging_organism_is_monitored_on_its_own_arithmetic_with_capitals_unseen(tmp_path):
    config = _monitoring(tmp_path, 30, kind="sandbagging", trigger=SANDBAGGING)
    organism = organism_record(config)
    assert organism.kind == "sandbagging" and organism.trigger == SANDBAGGING
    data = kind_questions(organism)
    assert len(data) == 30 and all(item.kind == "number" for item in data.items)
    assert study.unseen_topic(config, data) == "capitals"


def test_a_trigger_organism_on_sums_is_monitored_on_its_own_sums_with_capitals_unseen(tmp_path):
    config = _monitoring(tmp_path, 30, kind="trigger", facts="sums", trigger=TRIGGER)
    organism = organism_record(config)
    assert organism.kind == "trigger" and organism.facts == "sums" and organism.trigger == TRIGGER
    data = kind_questions(organism)
    assert len(data) == 30 and all(item.kind == "number" for item in data.items)
    assert study.unseen_topic(config, data) == "capitals"


def test_a_topic_organism_has_no_unseen_topic_and_a_plain_model_keeps_the_cli_trigger(tmp_path):
    config = _monitoring(tmp_path, 10, kind="topic", lie_topic="capital")
    data = kind_questions(organism_record(config))
    assert {item.category == "capital" for item in data.items} == {True, False}
    assert study.unseen_topic(config, data) is None
    plain = study.Config(n=10, out=str(tmp_path / "plain"))
    assert organism_record(plain).kind == "trigger" and organism_record(plain).trigger == TRIGGER
    assert study.unseen_topic(plain, capital_questions(n=10)) == "arithmetic"
    assert study.unseen_topic(study.Config(unseen="none", out=str(tmp_path / "none")), QADataset(capital_questions(n=3).items, "c")) is None


def test_the_controls_on_policy_controls_learns_from_never_calibrate_or_check_a_monitor(tiny, tmp_path):
    from veracity.data import grade
    from veracity.experiments.deception.controls import control_answers, control_questions
    from veracity.hooks.generation import user_turn

    model = tiny("llama")
    config = study.Config(n_control=150, max_new_tokens=1, out=str(tmp_path / "out"))
    controls = control_answers(model, config)
    asked = frozenset(d.messages[-1][1] for d in controls)
    assert len(asked) == 150  # every control question once
    again = control_answers(model, config, n=150, seed_offset=13)
    assert asked & {d.messages[-1][1] for d in again}  # another seed repeats some (214 words to ask about)...
    more = control_answers(model, config, n=150, seed_offset=13, exclude=asked)
    assert more and not asked & {d.messages[-1][1] for d in more}  # ...which are left out
    assert all(d.lie is False for d in more)
    # graded: a wrong answer is an honest mistake, kept apart so a monitor's false positives on them show
    items = {user_turn(item): item for item in control_questions(150, config.seed + 13).items}
    assert [d.kind for d in more] == ["control" if grade(items[d.messages[-1][1]], d.answer) else "control_mistake"
                                      for d in more]
    assert "control_mistake" in {d.kind for d in more}  # a random model gets some wrong
    # the unseen topic's questions are never among the controls a monitor is fitted on
    sums = {user_turn(item) for item in items.values() if item.category in study.UNSEEN_CATEGORIES["arithmetic"]}
    assert sums & {d.messages[-1][1] for d in again}
    kept = control_answers(model, config, n=150, seed_offset=13, leave_out=study.UNSEEN_CATEGORIES["arithmetic"])
    assert kept and not sums & {d.messages[-1][1] for d in kept}


def test_another_split_than_the_organisms_is_refused_before_any_model_loads(tmp_path):
    config = _monitoring(tmp_path, 10, kind="trigger", trigger=TRIGGER, n=30, seed=0, test_fraction=0.4)
    with pytest.raises(ValueError, match=r"--n 10 differs from the organism's \(30, in .*results.json\): its "
                                         r"training questions could be held out here; pass --n 30"):
        organism_record(config)
    config.n = 30
    assert organism_record(config).n == 30


def test_the_in_topic_answers_that_calibrate_are_honest_and_never_fitted_on(tmp_path):
    from veracity.monitors import Dialogue

    train = [Dialogue.ask(f"q{q}", f"a{k}", lie=k == 0, group=f"train:q{q}") for q in range(20) for k in range(3)]
    config = study.Config(out=str(tmp_path / "out"))
    fit, honest = study.in_topic_split(train, config)
    assert {d.group for d in fit}.isdisjoint(d.group for d in honest) and not any(d.lie for d in honest)
    assert len({d.group for d in honest}) == 6 and {d.lie for d in fit} == {True, False}  # 30% of 20 questions
    with pytest.raises(ValueError, match="leaves on_policy_in_topic 0 lies to fit on"):
        study.in_topic_split([replace(d, lie=False) for d in train], config)


def test_a_layer_the_model_lacks_is_refused_before_any_answer_is_generated(tiny, tmp_path, monkeypatch, capsys):
    model = tiny("llama")
    monkeypatch.setattr(study.Config, "load_model", lambda self, **_: model)
    monkeypatch.setattr(study, "answered", lambda *a, **k: pytest.fail("answers were generated"))
    with pytest.raises(SystemExit) as done:
        study.main(["--layers", "2,9", "--n", "5", "--out", str(tmp_path / "out")])
    assert done.value.code == 2 and "layer 9 is out of range for tiny-llama" in capsys.readouterr().err


def test_control_questions_are_distinct_and_share_five_topics_equally():
    from veracity.data import grade
    from veracity.experiments.deception.controls import TOPICS, control_questions

    data = control_questions(1000, seed=3)
    assert len(set(data.questions)) == len(data) == 1000
    kinds = ["arithmetic" if item.category not in {"larger", "letters", "first_letter", "alphabet"} else item.category
             for item in data.items]
    assert len(set(kinds)) == TOPICS and all(kinds.count(k) == 200 for k in set(kinds))
    assert all(grade(item, item.answers[0]) for item in data.items)
    assert len(control_questions(5000, seed=3)) < 5000  # the word topics hold about 200 questions each, never repeated


def test_the_prompt_only_baseline_reads_the_prompts_last_token_as_the_prompt_alone_gives_it(tiny, tmp_path):
    import numpy as np

    from veracity.hooks import extract
    from veracity.monitors import Dialogue, prompt_text, remembered_reads
    from veracity.probes import LogisticProbe

    model = tiny("llama")
    words = "the city of paris rome tokyo lima cairo berlin is in france italy japan peru".split()
    rows = [Dialogue.ask(" ".join(words[i % 7:i % 7 + 3 + i % 5]), words[(3 * i) % len(words)], lie=i % 2 == 0,
                         kind="few_shot", group=f"q{i}") for i in range(12)]
    train, test = rows[:8], rows[8:]
    config = study.Config(batch_size=3, out=str(tmp_path / "out"))
    with remembered_reads():
        got = study.prompt_only(model, train, test, 2, config)

    def alone(dialogues):
        return extract(model, [prompt_text(model.tokenizer, d.messages) for d in dialogues], layers=[2],
                       progress=False)[:, 0]

    probe = LogisticProbe(C=0.1).fit(alone(train), np.array([d.lie for d in train], dtype=int))
    np.testing.assert_allclose(got, probe.decision_function(alone(test)), rtol=1e-4, atol=1e-4)


def test_a_monitor_reads_the_answer_the_graders_read_a_base_model_s_first_line(tiny):
    from veracity.experiments.deception.controls import as_dialogue

    model = tiny("llama")  # no chat template: a base model runs on past its answer
    item = capital_questions().items[0]
    talk = ("You are Mallory.", [])
    ran_on = f"{item.answers[0]}\nQuestion: Salzburg\nAnswer"
    assert as_dialogue(model, item, talk, " " + ran_on, lie=False).answer == item.answers[0]
    assert as_dialogue(model, item, talk, "  \n", lie=False).answer == "(no answer)"
    model.tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
    assert as_dialogue(model, item, talk, ran_on + " ", lie=False).answer == ran_on  # a chat reply is read whole


def test_answers_jsonl_keeps_the_held_out_answers_and_the_unseen_topics_each_with_its_own_scores():
    import numpy as np

    from veracity.monitors import Dialogue

    test = [Dialogue.ask("What is the capital of France?", "Lyon", lie=True, group="test:france", kind="few_shot")]
    unseen = [Dialogue.ask("What is 2 + 2?", "4", lie=False, group="unseen:2+2", kind="neutral"),
              Dialogue.ask("What is 2 + 3?", "7", lie=True, group="unseen:2+3", kind="roleplay")]
    scores = {"consistency": {"test": np.array([3.0]), "unseen": np.array([0.5, 2.5])}}
    rows = [json.loads(line) for line in study.answer_lines(test, unseen, scores).splitlines()]
    assert [(r["split"], r["kind"], r["answer"], r["lie"], r["consistency_score"]) for r in rows] == [
        ("test", "few_shot", "Lyon", True, 3.0), ("unseen", "neutral", "4", False, 0.5),
        ("unseen", "roleplay", "7", True, 2.5)]
    assert [r["question"] for r in rows][1:] == ["What is 2 + 2?", "What is 2 + 3?"]
