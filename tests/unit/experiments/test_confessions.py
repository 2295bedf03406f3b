"""confessions: the confession turn's training data (yes exactly where the answer was wrong) and bad settings."""

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


@pytest.mark.parametrize("argv, message", [
    ([], "--adapter is required"),
    (["--adapter", "nowhere"], "no adapter folder at nowhere"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
