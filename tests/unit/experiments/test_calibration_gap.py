"""Calibration gap: the verbal-confidence parser, follow-up prompts, metrics and the report (the real run is in
tests/acceptance/experiments/test_calibration_gap_acceptance.py)."""

import numpy as np
import pytest
from planted_data import planted_confidences

from veracity.data import QADataset, QAItem
from veracity.experiments.knowing.calibration_gap import CalibrationGapConfig, main, score_metrics
from veracity.experiments.knowing.calibration_gap_report import (
    histogram_panels,
    reliability_panels,
)
from veracity.experiments.knowing.verbal_confidence import parse_confidence
from veracity.hooks.generation import followup_prompts

CHAT = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}<assistant> {% endif %}")


@pytest.mark.parametrize(("reply", "expected"), [
    ("I'm 99.5% confident that my answer is correct.", 0.995),
    ("80 %", 0.8),
    ("85", 0.85),
    ("The answer is 100.", 1.0),
    ("I'm 99.", 0.99),
    ("1", 0.01),  # an integer is read on the 0-100 scale it was asked for
    ("0.999...", 0.999),  # a decimal at most 1 is read as a probability
    ("1.00", 1.0),
    ("50.5", 0.505),
    ("I'd say 40% - maybe 60%", 0.4),  # the first percentage wins
])
def test_parse_confidence_reads_one_stated_confidence(reply, expected):
    assert parse_confidence(reply) == pytest.approx(expected)


def test_the_same_confidence_parses_to_the_same_value():
    assert parse_confidence("I'm 99.9% sure") == parse_confidence("0.999") == 0.999


@pytest.mark.parametrize("reply", [
    "", "To verify the answer, we need to round it to the nearest hundredth.",
    "18 times 87 is 1748",  # restates arithmetic: several numbers
    "To verify the answer, we need to add 100 to 8 and then round it",
    "1.00 = 100", "150", "120%",
])
def test_parse_confidence_rejects_replies_without_a_single_confidence(reply):
    assert parse_confidence(reply) is None


def test_a_reply_cut_off_in_an_integer_is_unparseable():
    assert parse_confidence("round it.\n\nThe answer is 10", complete=False) is None  # was "100."
    assert parse_confidence("round it.\n\nThe answer is 10", complete=True) == pytest.approx(0.1)
    assert parse_confidence("0.9999999999", complete=False) == pytest.approx(0.9999999999)  # only precision lost
    assert parse_confidence("I'm 99.5% confident that my", complete=False) == pytest.approx(0.995)


def test_followup_prompt_puts_the_answer_before_the_confidence_question(tiny):
    model = tiny("llama")
    data = QADataset([QAItem("What is 2 + 2?", ("4",), "number", "add_1d")])
    plain = followup_prompts(model, data, ["4"], "How sure?")
    assert plain == ["Question: What is 2 + 2? Answer with just the number.\nAnswer: 4\nHow sure?\nAnswer:"]
    model.tokenizer.chat_template = CHAT
    (chat,) = followup_prompts(model, data, [""], "How sure?")
    assert chat.index("<user> What is 2 + 2?") < chat.index("<assistant> (none)") < chat.index("<user> How sure?")
    assert chat.startswith("<system>") and chat.endswith("<assistant> ")
    with pytest.raises(ValueError):
        followup_prompts(model, data, ["4", "5"], "How sure?")


def test_config_defaults_and_validation(capsys):
    assert CalibrationGapConfig().out.endswith("calibration_gap")
    with pytest.raises(ValueError, match="--n-bins must be >= 1"):
        CalibrationGapConfig(n_bins=0)
    with pytest.raises(ValueError, match="choose from arithmetic"):
        CalibrationGapConfig(qa_sets="trivia")
    with pytest.raises(SystemExit) as done:
        main(["--confidence-tokens", "0"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: --confidence-tokens must be >= 1, got 0 (see " in err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--model", "--device", "--seed", "--confidence-tokens", "--n-bins", "--k", "--target"):
        assert option in text
    flat = " ".join(text.split())
    assert "Output folder (default: artifacts/<study>)" in flat  # the common --out
    assert "--k K Sampled answers per question" in flat  # inherited from PIKConfig's docstring


def test_score_metrics_leave_out_unscored_questions():
    score = np.array([0.9, np.nan, 0.2, 0.8, np.nan, 0.1])
    correct = np.array([1, 1, 0, 1, 0, 0])
    m = score_metrics(score, correct, n_bins=10, seed=0)
    assert (m["n"], m["n_unscored"], m["distinct_values"]) == (4, 2, 4)
    assert m["auroc"] == 1.0 and m["accuracy"] == 0.5 and m["mean_prob"] == pytest.approx(0.5)
    assert m["ece"] == pytest.approx(0.15) and m["mce"] == pytest.approx(0.2)
    one_outcome = score_metrics(np.array([0.9, np.nan]), np.array([1, 0]), n_bins=10, seed=0)
    assert one_outcome["n"] == 1 and "auroc" not in one_outcome and "note" in one_outcome


def test_panels_have_one_reliability_curve_per_score():
    scores, correct = planted_confidences()
    fig = reliability_panels(scores, correct, n_bins=10)
    assert [t.uid for t in fig.data if t.uid] == ["reliability-verbal", "reliability-p_true", "reliability-p_ik"]
    assert sum(t.showlegend is not False for t in fig.data if t.name == "perfect calibration") == 1
    hist = histogram_panels(scores, correct)
    assert len(hist.data) == 6 and not np.isnan(np.concatenate([t.x for t in hist.data])).any()
