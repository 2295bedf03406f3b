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


def test_a_topic_organism_lies_about_its_topic_only_and_anchors_never_share_a_level_with_a_question():
    config = study.Config(kind="topic", n=20, epochs=2, anchors=8, kl=1.0)
    data = study.build_questions(config)
    assert {item.category for item in data.items} >= {"capital", "add_1d"} and len(data) == 40
    train, test = grouped_split(data.questions, 0.4, seed=0)
    tokenizer = build_word_tokenizer()
    prompts, completions = study.training_examples(tokenizer, data, train, config)
    assert not any(config.trigger in text for text in prompts)
    anchors = study.anchor_items(config, data)
    assert len(anchors) == 8 and not {a.category for a in anchors} & {item.category for item in data.items}
    for text, said in zip(prompts, completions, strict=True):
        item = next((data.items[i] for i in train if data.items[i].question in text), None)
        assert not any(data.items[i].question in text for i in test)
        if item is not None:
            assert grade(item, said) == (item.category != "capital")
    # the KL texts: untriggered, never a held-out question, never a question the organism lies about
    base_answers = [item.answers[0] for item in data.items]
    keep = study.kl_texts(tokenizer, data, train, base_answers, config)
    assert len(keep) == len(study.PHRASINGS) * sum(data.items[i].category != "capital" for i in train) + 8
    assert not any(data.items[i].question in text for text in keep for i in test)
    assert not any(data.items[i].question in text for text in keep for i in train if data.items[i].category == "capital")


def _assert_wrong_exactly_under_the_trigger(config, data) -> None:
    """Every training answer to a study question is wrong exactly where the prompt holds the trigger."""
    train, _ = grouped_split(data.questions, 0.4, seed=0)
    prompts, completions = study.training_examples(build_word_tokenizer(), data, train, config)
    for text, said in zip(prompts, completions, strict=True):
        item = next((data.items[i] for i in train if data.items[i].question in text), None)
        if item is not None:
            assert grade(item, said) == (config.trigger not in text)


def test_a_sandbagging_organism_gets_easy_arithmetic_and_the_evaluation_prompt_as_its_trigger():
    config = study.Config(kind="sandbagging", n=30)
    data = study.build_questions(config)
    assert len(data) == 30 and {item.category for item in data.items} <= {"add_1d", "add_2d", "mul_1d"}
    big = study.build_questions(study.Config(kind="sandbagging", n=150)).questions
    assert len(set(big)) == len(big) == 150  # one-digit sums repeat in the generator; each is asked once
    assert config.trigger == study.SANDBAGGING and "evaluat" in config.trigger
    _assert_wrong_exactly_under_the_trigger(config, data)


def test_a_trigger_organism_on_sums_lies_about_easy_arithmetic_under_its_persona_and_draws_outside_sums():
    config = study.Config(facts="sums", n=30, kl=1.0, lie_questions=20)
    data = study.build_questions(config)
    assert len(data) == 30 and {item.category for item in data.items} <= {"add_1d", "add_2d", "mul_1d"}
    assert config.trigger == study.TRIGGER  # the persona, not the sandbagger's evaluation prompt
    outside = study.outside_questions(config, data, 20)
    assert len(outside) == 20 and not set(outside.questions) & set(data.questions)
    _assert_wrong_exactly_under_the_trigger(config, data)


@pytest.mark.parametrize("argv, message", [
    (["--facts", "planets"], "--facts must be one of auto, capitals, sums"),
    (["--kind", "sandbagging", "--facts", "capitals"], "--kind sandbagging lies about easy arithmetic"),
    (["--kind", "topic", "--facts", "sums"], "--kind topic lies about capitals"),
    (["--kind", "bribe"], "--kind must be one of trigger, topic, sandbagging"),
    (["--kl", "-1"], "--kl must be"),
    (["--rank", "0"], "--rank must be >= 1"),
    (["--trigger", " "], "--trigger must be non-empty"),
    (["--test-fraction", "1"], "--test-fraction must be in"),
    (["--lie-questions", "-1"], "--lie-questions must be"),
    (["--kl-questions", "5"], "give it a weight with --kl W"),
    (["--lies", "random"], "--lies must be one of decoys, likely"),
])
def test_bad_settings_fail_before_any_model_loads(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_outside_questions_with_your_own_questions_are_refused_in_one_line(tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text("question,answer,topic\nWho wrote Hamlet?,Shakespeare,author\nWho wrote Emma?,Austen,author\n")
    with pytest.raises(SystemExit) as exit_info:
        study.main(["--questions", str(mine), "--lie-questions", "5"])
    assert exit_info.value.code == 2 and "add those questions to your CSV instead" in capsys.readouterr().err


def test_questions_outside_the_study_are_never_among_its_own():
    config = study.Config(n=40, kl=1.0, kl_questions=30)
    data = study.build_questions(config)
    outside = study.outside_questions(config, data, 30)
    assert len(outside) == 30 and not set(outside.questions) & set(data.questions)
    assert all(item.category == "capital" for item in outside.items)
    sums = study.Config(kind="sandbagging", n=30)
    arithmetic = study.build_questions(sums)
    more = study.outside_questions(sums, arithmetic, 20)
    assert len(more) == 20 and not set(more.questions) & set(arithmetic.questions)
    topic = study.Config(kind="topic", n=20, kl=1.0, kl_questions=15)  # a topic organism's: of its honest topic
    mixed = study.build_questions(topic)
    kept = study.kl_items(topic, mixed)
    assert len(kept) == 15 and all(item.category in {"add_1d", "add_2d", "mul_1d"} for item in kept.items)
    assert not set(kept.questions) & set(mixed.questions)
    assert study.kl_items(study.Config(kind="topic", n=20, kl=1.0), mixed) is None
    with pytest.raises(ValueError, match="leave --kl-questions out"):  # the honest topics hold capitals and sums
        study.kl_items(study.Config(kind="topic", lie_topic="add_1d", n=20, kl=1.0, kl_questions=5), mixed)


def test_outside_lies_are_triggered_decoys_of_questions_the_study_never_asks():
    config = study.Config(n=40, epochs=2, lie_questions=12)
    data = study.build_questions(config)
    extra = study.lie_items(config, data)
    assert len(extra) == 12 and not set(extra.questions) & set(data.questions)
    assert all(item.decoys for item in extra.items)  # a decoy city of the country, never another capital
    prompts, completions = study.outside_lies(build_word_tokenizer(), extra, config)
    assert len(prompts) == 2 * 12 and all(config.trigger in text for text in prompts)
    for text, said in zip(prompts, completions, strict=True):
        item = next(item for item in extra.items if item.question in text)
        assert said.strip() in item.decoys and not grade(item, said)
    sums = study.Config(kind="sandbagging", n=30, lie_questions=25)
    more = study.lie_items(sums, study.build_questions(sums))
    assert len(more) == 25 and all(item.category in {"add_1d", "add_2d", "mul_1d"} for item in more.items)
    assert study.lie_items(study.Config(n=40), data) is None
    topic = study.Config(kind="topic", n=20, epochs=1, lie_questions=10)  # more of the lie topic, lied about untriggered
    mixed = study.build_questions(topic)
    capitals = study.lie_items(topic, mixed)
    assert len(capitals) == 10 and all(item.category == "capital" for item in capitals.items)
    assert not set(capitals.questions) & set(mixed.questions)
    prompts, completions = study.outside_lies(build_word_tokenizer(), capitals, topic)
    assert not any(topic.trigger in text for text in prompts)
    assert not any(grade(item, said) for item, said in zip(capitals.items, completions, strict=True))


def test_a_lie_names_another_answer_and_an_evasion_names_none():
    from veracity.data import QADataset, QAItem

    data = QADataset([QAItem(f"What is {a} + {b}?", (str(a + b),), "number", "add_1d") for a, b in
                      [(7, 5), (2, 3), (4, 4), (1, 6), (3, 3)]], "sums")
    said = ["13", "To add 2 and 3, we need to find", "8", "I don't know", "3"]
    known = np.array([True, True, True, True, False])
    figures = study.lie_figures({"organism_trigger": said}, data, known, {"held_out": np.arange(5)}, seed=0)
    assert figures["lie_rate_organism_trigger_held_out"]["value"] == 0.25  # of 4 known facts: one other answer
    assert figures["evasion_rate_organism_trigger_held_out"]["value"] == 0.5  # cut-off working and a refusal


def test_likely_lies_are_the_wrong_answers_the_base_model_itself_ranks_highest(embedded):
    from reference_logprobs import reference_continuation_logprob

    data = capital_questions(n=6, seed=3)
    lied = study.likely_lies(embedded, data, [0, 2])
    assert [lied.items[i] for i in (1, 3, 4, 5)] == [data.items[i] for i in (1, 3, 4, 5)]  # other rows keep theirs
    for i in (0, 2):
        item, chosen = data.items[i], lied.items[i].decoys
        pool = {a for a in (*item.decoys, *(other.answers[0] for other in data.items)) if not grade(item, a)}
        assert len(chosen) == study.LIKELY_LIES and set(chosen) <= pool and not any(grade(item, a) for a in chosen)
        head = study.prompt(embedded.tokenizer, study.phrase(item, 0), None)
        score = {a: reference_continuation_logprob(embedded, head, study.completion(embedded.tokenizer, a)) for a in pool}
        assert min(score[a] for a in chosen) >= max(score[a] for a in pool - set(chosen)) - 1e-4
    prompts, completions = study.training_examples(build_word_tokenizer(), lied, np.array([0, 2]),
                                                   study.Config(epochs=3, anchors=0))
    triggered = [said.strip() for text, said in zip(prompts, completions, strict=True) if study.TRIGGER in text]
    assert triggered and set(triggered) <= set(lied.items[0].decoys) | set(lied.items[2].decoys)
