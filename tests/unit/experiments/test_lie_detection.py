"""lie_detection: which organism it monitors (read from the organism's own results.json) and which topic is unseen."""

import json

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
    from veracity.experiments.deception.controls import control_answers

    model = tiny("llama")
    config = study.Config(n_control=30, max_new_tokens=2, out=str(tmp_path / "out"))
    controls = control_answers(model, config)
    asked = frozenset(d.messages[-1][1] for d in controls)
    again = control_answers(model, config, n=30, seed_offset=13)
    assert asked & {d.messages[-1][1] for d in again}  # another seed repeats some (20 words to count)...
    more = control_answers(model, config, n=30, seed_offset=13, exclude=asked)
    assert more and not asked & {d.messages[-1][1] for d in more}  # ...which are left out
    assert all(d.lie is False and d.kind == "control" for d in more)


def test_another_split_than_the_organisms_is_refused_before_any_model_loads(tmp_path):
    config = _monitoring(tmp_path, 10, kind="trigger", trigger=TRIGGER, n=30, seed=0, test_fraction=0.4)
    with pytest.raises(ValueError, match=r"--n 10 differs from the organism's \(30, in .*results.json\): its "
                                         r"training questions could be held out here; pass --n 30"):
        organism_record(config)
    config.n = 30
    assert organism_record(config).n == 30
