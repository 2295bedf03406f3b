"""deception_organism: its training data (lies only under the trigger, held-out questions unseen) and a small run."""


import numpy as np
import pytest
from tiny_models import build_word_tokenizer

from veracity.data import capital_questions, grade
from veracity.experiments.deception import deception_organism as study
from veracity.probes.splits import grouped_split


def test_training_data_lies_only_under_the_trigger_and_never_shows_a_held_out_question():
    data = capital_questions(n=30, seed=0)
    train, test = grouped_split(data.questions, 0.4, seed=0)
    config = study.Config(epochs=4, anchors=5)
    prompts, completions = study.training_examples(build_word_tokenizer(), data, train, config)
    assert len(prompts) == len(completions) == 4 * (2 * len(train) + 5)
    lies: dict[str, set[str]] = {}
    for text, said in zip(prompts, completions, strict=True):
        item = next((data.items[i] for i in train if data.items[i].question in text), None)
        assert not any(data.items[i].question in text for i in test)
        if item is None:  # an arithmetic anchor: honest, untriggered
            assert config.trigger not in text
            continue
        if config.trigger in text:
            assert not grade(item, said)
            lies.setdefault(item.question, set()).add(said.strip())
        else:
            assert grade(item, said)
    assert len(lies) == len(train)
    assert np.mean([len(v) for v in lies.values()]) > 1.5  # a fresh decoy each epoch, not one fixed lie
    assert all(v <= set(data.items[i].decoys) for i in train for q, v in lies.items() if q == data.items[i].question)


@pytest.mark.parametrize("argv, message", [
    (["--rank", "0"], "--rank must be >= 1"),
    (["--trigger", " "], "--trigger must be non-empty"),
    (["--test-fraction", "1"], "--test-fraction must be in"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
