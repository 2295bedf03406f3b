"""verbal_calibration: reading a stated confidence, what the adapter learns, and options that say what is wrong."""

import numpy as np
import pytest

from veracity.data import calibrated_math, grade
from veracity.experiments.knowing.verbal_calibration import (
    Config,
    answer_part,
    calibration,
    completion,
    reply_budget,
    stated_confidence,
    trained_replies,
    training_example,
)


def test_the_stated_confidence_is_read_after_the_answer():
    assert stated_confidence("12 Confidence: 70%") == 0.7
    assert stated_confidence("The answer is 12. Confidence:100 %") == 1.0
    assert np.isnan(stated_confidence("12, I am fairly sure"))
    assert np.isnan(stated_confidence("12 Confidence: 250%"))
    assert answer_part("The answer is 12. Confidence: 70%") == "The answer is 12."


def test_the_adapter_learns_the_model_s_own_answer_then_its_target(word_tokenizer):
    assert completion(word_tokenizer, " 12 ", 0.666) == " 12 Confidence: 67%\n"  # no chat template: plain text
    # a base model's answer runs on past its first line: the confidence follows the first line, as the graders read it
    assert completion(word_tokenizer, " 14\nAnswer: 14 + 6 = 20\nAnswer:", 0.5) == " 14 Confidence: 50%\n"


def test_supervising_the_confidence_alone_moves_the_answer_into_the_prompt(word_tokenizer):
    answer, prompt = " 14\nAnswer: 14 + 6 = 20", "Question: what is 8 + 6 ?\nAnswer:"
    whole = training_example(word_tokenizer, prompt, answer, 0.5)
    assert whole == (prompt, " 14 Confidence: 50%\n")
    head, tail = training_example(word_tokenizer, prompt, answer, 0.5, supervise="confidence")
    assert (head, tail) == (prompt + " 14", " Confidence: 50%\n")  # the same text; the loss on the confidence only
    with pytest.raises(ValueError, match="--supervise"):
        Config(supervise="answer")


def test_with_the_confidence_supervised_the_untrained_answer_stands_and_the_tuned_model_only_continues_it(tiny, tmp_path):
    model = tiny("llama")
    prompts, answers = ["Question: what is 2 + 2 ?\nAnswer:", "Question: what is 3 + 4 ?\nAnswer:"], [" 4\nAnswer: 5", " 9"]
    config = Config(out=str(tmp_path), supervise="confidence", batch_size=2)
    replies = trained_replies(model, prompts, answers, config)
    assert [r[:len(a)] for r, a in zip(replies, (" 4", " 9"), strict=True)] == [" 4", " 9"]  # the answer's first line
    assert all(len(model.tokenizer(r[3:], add_special_tokens=False)["input_ids"]) <= reply_budget(model.tokenizer, 0)
               for r in replies)  # then only the confidence's budget
    assert all(r[2] == " " and r[3] != " " for r in replies if len(r) > 2)  # one space between answer and the rest
    whole = trained_replies(model, prompts, answers, Config(out=str(tmp_path), batch_size=2))
    assert not all(r.startswith((" 4", " 9")) for r in whole)  # a random model answering for itself says other things


def test_the_answer_is_graded_before_a_confidence_that_states_no_percentage():
    data = calibrated_math(2, seed=0, tasks=("add_1d",))
    right = data.items[0].answers[0]
    reply = f"{right} Confidence: 6 Confidence: 6"  # an adapter that never finished its percentage
    assert answer_part(reply) == right and grade(data.items[0], answer_part(reply))
    assert np.isnan(stated_confidence(reply))


def test_the_trained_model_has_room_to_state_its_confidence_after_an_answer_that_ran_to_the_limit(word_tokenizer):
    said = word_tokenizer(completion(word_tokenizer, "", 1.0), add_special_tokens=False)["input_ids"]
    assert reply_budget(word_tokenizer, 24) >= 24 + len(said) > 24


def test_calibration_counts_unparsed_and_resamples_by_question():
    probs = np.array([0.9, 0.9, 0.1, np.nan, 0.2])
    figures = calibration(probs, np.array([1, 1, 0, 1, 0]), np.array(["a", "b", "c", "d", "e"]), seed=0)
    assert figures["n"] == 4 and figures["n_unparsed"] == 1
    assert figures["ece"]["value"] == pytest.approx(0.125)  # (2 * 0.1 + 0.1 + 0.2) / 4
    assert sum(figures["diagram"]["count"]) == 4


@pytest.mark.parametrize("options,message", [
    ({"train_tasks": "add_1d,integrals"}, "unknown \\['integrals'\\]"),
    ({"train_tasks": "add_1d", "shift_tasks": "add_1d"}, "share a sub-task"),
    ({"targets": "oracle"}, "choose from empirical, pik"),
    ({"layer": "deep"}, "--layer must be an int"),
    ({"n_per_task": 2}, "--n-per-task"),
])
def test_options_say_what_is_wrong(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        Config(out=str(tmp_path), **options)
