"""Calibration gap: the model's verbalised confidence, its P(True) and a P(IK) probe against real correctness.

    python -m veracity.experiments.knowing.calibration_gap --out artifacts/calibration_gap

The model answers graded QA sets (arithmetic of graded difficulty, country capitals) greedily,
chat-formatted, and each answer is graded against the reference. Three confidences that the
answer is correct are then compared on the same held-out questions:

- **verbal**: in the same chat, after its answer, the model is asked "How confident are you that
  your answer is correct? Reply with a number from 0 to 100." and its greedy reply is parsed
  (:func:`veracity.experiments.knowing.verbal_confidence.parse_confidence`). Unparseable replies are left out of
  this score's metrics and counted (``n_unscored``); ``scores_on_verbal_subset`` scores all three
  on the held-out questions with a parsed reply, so the comparison can also be made like for like.
- **p_true**: the model's own P("True") versus P("False") for its answer (Kadavath et al. 2022).
- **p_ik**: a P(IK) head (:class:`veracity.probes.PIKHead`) on the question prompt's last-token residual
  stream, fitted on the training split exactly as ``veracity.experiments.knowing.pik`` does.

Each gets AUROC (95% bootstrap interval), ECE and MCE (equal-width bins), Brier, and its mean
against the accuracy. Writes ``results.json`` (one record per score), ``answers.jsonl`` (one row
per question), ``pik_head.safetensors`` + ``.json`` and ``report.html`` (reliability diagrams side
by side, histograms, the tables).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from veracity.constraints import Interval
from veracity.experiments.cli import study_main
from veracity.experiments.knowing.calibration_gap_report import SCORES, write_calibration_report
from veracity.experiments.knowing.pik_parts import (
    PIKConfig,
    answer_split_and_fit,
    evaluate,
    write_answers,
)
from veracity.experiments.knowing.verbal_confidence import CONFIDENCE_QUESTION, verbal_confidence
from veracity.experiments.results import Results, study_results
from veracity.hooks import LAYER_CONVENTION, SITE
from veracity.hooks.generation import p_true
from veracity.probes.evaluation import estimate

logger = logging.getLogger(__name__)

UNPARSEABLE = ("left out of the verbal score's metrics (counted in n_unscored); scores_on_verbal_subset "
               "compares all three scores on the held-out questions whose reply was parsed")


@dataclass(kw_only=True)
class CalibrationGapConfig(PIKConfig):
    """Settings of the calibration-gap experiment (verbal confidence, P(True), P(IK)).

    Every option of ``veracity.experiments.knowing.pik`` (documented on :class:`veracity.experiments.knowing.pik.PIKConfig`), plus:

    Attributes:
        confidence_tokens: Tokens generated at most for the reply to the confidence question.
        n_bins: Equal-width bins on [0, 1] for ECE, MCE and the reliability diagrams.
    """

    study = "calibration_gap"

    confidence_tokens: int = 32
    n_bins: int = 10

    constraints: ClassVar[dict] = {"n_bins": [Interval(int, 1)], "confidence_tokens": [Interval(int, 1)]}

    def __post_init__(self):
        super().__post_init__()


def score_metrics(score: np.ndarray, correct: np.ndarray, n_bins: int, seed: int) -> dict:
    """:func:`veracity.experiments.knowing.pik.evaluate` on the questions where ``score`` is finite (NaN = unscored).

    Returns:
        ``n`` (scored), ``n_unscored``, ``distinct_values`` and the metrics; without both outcomes
        among the scored questions, only the counts and a ``note``.
    """
    keep = np.isfinite(score)
    counts = {"n": int(keep.sum()), "n_unscored": int((~keep).sum()),
              "distinct_values": int(np.unique(score[keep]).size)}
    if np.unique(correct[keep]).size < 2:
        return {**counts, "note": "the scored questions do not include both right and wrong answers: no metrics"}
    return {**counts, **evaluate(score[keep], correct[keep], seed, n_bins)}


def _records(scores: dict[str, np.ndarray], correct: np.ndarray, rows: np.ndarray, config) -> list[dict]:
    return [{"score": name, "label": SCORES[name], **score_metrics(s[rows], correct[rows], config.n_bins, config.seed)}
            for name, s in scores.items()]


def run(config: CalibrationGapConfig, model=None) -> Results:
    """Answer, grade, read the three confidences, score them on the held-out split; write the outputs."""
    model = model or config.load_model()
    data, graded, train, test, layer, acts, head = answer_split_and_fit(model, config)
    correct = graded.correct
    replies, verbal = verbal_confidence(model, data, graded.greedy, config.confidence_tokens, config.batch_size)
    scores = {"verbal": verbal, "p_true": p_true(model, data, graded.greedy, config.batch_size),
              "p_ik": head.predict_true(acts)}
    parsed_test = test[np.isfinite(verbal[test])]
    records = _records(scores, correct, test, config)
    results = study_results(
        "calibration_gap", model, config,
        {f"auroc_{r['score']}": estimate(r["auroc"], *r["auroc_ci95"]) for r in records if "auroc" in r},
        tables={"scores": records, "scores_on_verbal_subset": _records(scores, correct, parsed_test, config)},
        model_id=model.model_id, layer=layer, site=SITE, layer_convention=LAYER_CONVENTION,
        position="last token of the chat-formatted question prompt", n_questions=len(data), n_train=len(train),
        n_test=len(test), accuracy_greedy=float(correct.mean()), accuracy_test=float(correct[test].mean()),
        verbal_question=CONFIDENCE_QUESTION, verbal_parse_rate=float(np.isfinite(verbal).mean()),
        verbal_parse_rate_test=float(len(parsed_test) / len(test)), unparseable=UNPARSEABLE,
        metric_note=(f"held-out split; label = greedy answer correct; ECE/MCE over {config.n_bins} equal-width "
                     "bins; AUROC CI = 1000-sample percentile bootstrap"))
    out = Path(config.out)
    results.write(out)
    write_answers(out / "answers.jsonl", data, graded, test, {"verbal_reply": replies, **scores})
    head.save(out / "pik_head")
    write_calibration_report(out / "report.html", results, scores, correct, test, replies)
    return results


def main(argv=None, model=None) -> Results:
    """Command-line entry point; returns the :class:`Results`."""
    return study_main(CalibrationGapConfig, run, argv, model=model)


if __name__ == "__main__":
    main()
