"""P(IK) pieces shared by the P(IK) and calibration-gap studies, written once.

The QA study options (:class:`PIKConfig`), the questions, the model's graded answers and their
split, the P(IK) training target, fitting a P(IK) head, the metrics and ``answers.jsonl``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from jaxtyping import Float
from torch import Tensor

from veracity.atomic import atomic_write_text
from veracity.constraints import FRACTION, Interval, Options
from veracity.data import QA_SETS, QADataset, arithmetic_questions, capital_questions, load_questions_csv
from veracity.experiments.config import StudyConfig
from veracity.hooks import LAYER_CONVENTION, SITE, extract
from veracity.hooks.convention import resolve_layers
from veracity.hooks.generation import GradedAnswers, answer_and_grade, qa_prompts
from veracity.probes import PIKHead, auroc, bootstrap_ci, brier, reliability_diagram
from veracity.probes.splits import stratified_group_split, stratified_split

__all__ = ["TARGETS", "NotEnoughOutcomes", "PIKConfig", "answer_and_split", "answer_split_and_fit", "build_questions",
           "evaluate",
           "fit_pik_head", "question_activations", "split", "training_target", "write_answers"]

logger = logging.getLogger(__name__)

TARGETS = ("soft", "mixed", "greedy")


@dataclass(kw_only=True)
class PIKConfig(StudyConfig):
    """Settings of the P(IK) versus P(True) experiment.

    Attributes:
        qa_sets: Comma-separated QA sets: arithmetic, capitals.
        n_per_level: Arithmetic questions per difficulty level (7 levels, 1-digit sums to 3-digit products).
        n_capitals: Capital questions, a seeded sample (0 = all 157 countries over 1M people).
        k: Sampled answers per question (temperature --temperature) for the P(IK) training target.
        max_new_tokens: Tokens generated per answer at most (graders read the first line).
        temperature: Sampling temperature of the k samples.
        layer: Layer of the question-prompt activations for the P(IK) head; "auto" = 2/3 of the depth.
        target: P(IK) training target: soft (fraction of the k samples correct), mixed (fraction of the greedy
            answer and the k samples correct) or greedy (0/1).
        hidden: Hidden width of an MLP P(IK) head (0 = linear head).
        weight_decay: L2 penalty of the P(IK) head.
        test_fraction: Fraction of questions held out (stratified by greedy correctness).
        questions: Your own questions instead of --qa-sets: a CSV with columns question,answer (alternatives
            separated by |) and optional topic.
        n: Use a seeded sample of at most this many questions (0 = all).
    """

    study = "pik"

    qa_sets: str = "arithmetic,capitals"
    n_per_level: int = 20
    n_capitals: int = 100
    k: int = 4
    max_new_tokens: int = 12
    temperature: float = 1.0
    layer: str = "auto"
    target: str = "soft"
    hidden: int = 0
    weight_decay: float = 1e-2
    test_fraction: float = 0.3
    questions: str = ""
    n: int = 0

    constraints: ClassVar[dict] = {
        "target": [Options(*TARGETS)],
        "n": [Interval(int, 0, note="0 = all questions")],
        "test_fraction": [FRACTION],
    }

    def __post_init__(self):
        super().__post_init__()
        unknown = [s for s in self.set_list if s not in QA_SETS]
        if unknown or not self.set_list:
            raise ValueError(f"--qa-sets: unknown {unknown or 'empty'}; choose from {', '.join(QA_SETS)}")
        if self.target != "greedy" and self.k < 1:
            raise ValueError(f"--target {self.target} needs --k >= 1 sampled answers (or use --target greedy)")
        if self.layer != "auto":
            try:
                int(self.layer)
            except ValueError:
                raise ValueError(f"--layer must be an int or 'auto', got {self.layer!r}") from None
        if self.questions:
            load_questions_csv(self.questions)  # a bad file is reported before any model loads

    @property
    def set_list(self) -> list[str]:
        """The requested QA set names."""
        return [s.strip() for s in self.qa_sets.split(",") if s.strip()]

    def layer_index(self, n_layers: int) -> int:
        """The P(IK) layer for a model with ``n_layers`` blocks."""
        if self.layer == "auto":
            return round(2 * n_layers / 3)
        return resolve_layers(int(self.layer), n_layers)[0]


def build_questions(config: PIKConfig) -> QADataset:
    """The ``--questions`` CSV or the requested QA sets, concatenated; a seeded sample of ``--n`` of them."""
    if config.questions:
        data = load_questions_csv(config.questions)
    else:
        items = []
        if "arithmetic" in config.set_list:
            items += arithmetic_questions(config.n_per_level, seed=config.seed).items
        if "capitals" in config.set_list:
            items += capital_questions(config.n_capitals or None, seed=config.seed).items
        data = QADataset(items, "+".join(config.set_list))
    return data.sample(config.n, config.seed) if config.n else data


class NotEnoughOutcomes(ValueError):
    """The model got (almost) everything right or wrong: P(IK) has nothing to learn."""


def split(correct: np.ndarray, test_fraction: float, seed: int, questions=None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices, stratified by greedy correctness; both outcomes needed.

    With ``questions`` (the question texts), a question asked twice (two random sums can coincide)
    stays on one side (:func:`stratified_group_split`).
    """
    counts = np.bincount(correct, minlength=2)
    if counts.min() < 2:
        raise NotEnoughOutcomes(f"the model got {counts[1]} of {len(correct)} questions right: P(IK) needs at least 2 "
                                "right and 2 wrong; use more or easier/harder questions (--n-per-level, --qa-sets)")
    if questions is None:
        return stratified_split(correct, test_fraction, seed)
    return stratified_group_split(correct, questions, test_fraction, seed)


def training_target(graded, target: str) -> np.ndarray:
    """The P(IK) head's target per question: ``soft``, ``mixed`` or ``greedy`` (see :class:`PIKConfig`)."""
    if target == "greedy":
        return graded.correct.astype(np.float64)
    if target == "soft":
        return graded.soft
    k = graded.sample_correct.shape[1]
    return (graded.correct + graded.sample_correct.sum(axis=1)) / (k + 1)


def category_prior(data: QADataset, correct: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Baseline: each question's training-split accuracy of its category (global mean if unseen)."""
    cats = np.array([item.category for item in data.items])
    rates = {c: correct[train][cats[train] == c].mean() for c in set(cats[train])}
    return np.array([rates.get(c, correct[train].mean()) for c in cats], dtype=np.float64)


def evaluate(probs: np.ndarray, correct: np.ndarray, seed: int, n_bins: int = 10) -> dict:
    """AUROC (with bootstrap 95% CI), ECE and MCE (``n_bins`` equal-width bins), Brier, mean ``probs`` and accuracy."""
    ci = bootstrap_ci(auroc, probs, correct, n_boot=1000, seed=seed)
    diagram = reliability_diagram(probs, correct, n_bins=n_bins)
    return {"auroc": ci.estimate, "auroc_ci95": [ci.low, ci.high], "ece": diagram.ece, "mce": diagram.mce,
            "brier": brier(probs, correct), "mean_prob": float(np.mean(probs)), "accuracy": float(np.mean(correct))}


def question_activations(model, data: QADataset, config: PIKConfig) -> Float[Tensor, "n layer d_model"]:
    """Residual stream at the last token of each chat-formatted question prompt, all layers (cached)."""
    return extract(model, qa_prompts(model, data), layers="all", batch_size=config.batch_size, cache=config.activation_cache)


def fit_pik_head(model, data: QADataset, target: np.ndarray, train: np.ndarray, acts: Float[Tensor, "n d_model"],
                 layer: int, config: PIKConfig) -> PIKHead:
    """Fit a P(IK) head on the training split's activations ``acts: (n, d_model)`` against ``target``
    (from :func:`training_target`).

    Raises:
        NotEnoughOutcomes: The target is constant on the training split.
    """
    if np.ptp(target[train]) == 0:
        raise NotEnoughOutcomes(f"the {config.target} target is constant on the training split ({target[train][0]:g}): "
                                "use --target mixed or greedy, more samples (--k) or more questions")
    head = PIKHead(hidden=config.hidden or None, weight_decay=config.weight_decay, seed=config.seed)
    head.fit(acts[train], target[train])
    return head.set_provenance(model_id=model.model_id, layer=layer, site=SITE, layer_convention=LAYER_CONVENTION,
                               dataset=data.name, target=config.target)


def answer_and_split(model, config: PIKConfig) -> tuple[QADataset, GradedAnswers, np.ndarray, np.ndarray]:
    """Build the questions, let the model answer them (greedy + ``config.k`` samples), grade, split.

    Returns:
        ``(data, graded, train, test)``: the questions, the graded answers and the split's indices.

    Raises:
        NotEnoughOutcomes: Fewer than two right or two wrong greedy answers.
    """
    data = build_questions(config)
    graded = answer_and_grade(model, data, config.k, config.max_new_tokens, config.temperature,
                              config.batch_size, config.seed)
    return (data, graded, *split(graded.correct, config.test_fraction, config.seed, data.questions))


def write_answers(path: Path, data: QADataset, graded: GradedAnswers, test: np.ndarray, columns: dict) -> None:
    """Write ``answers.jsonl``: one row per question with its greedy answer, grade, split and extra columns.

    Args:
        path: Output file.
        data: The questions (text, references and category go into each row).
        graded: The graded answers (``greedy`` and ``correct``).
        test: Held-out indices (``split`` is "test" or "train").
        columns: Column name to one value per question (NaN floats are written as null).
    """
    held_out, lines = set(test.tolist()), []
    for i, item in enumerate(data.items):
        row = {"question": item.question, "references": list(item.answers), "category": item.category,
               "greedy": graded.greedy[i], "correct": int(graded.correct[i]),
               "split": "test" if i in held_out else "train", **{name: _json(col[i]) for name, col in columns.items()}}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    atomic_write_text(path, "".join(lines))


def _json(value):
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    return value


def answer_split_and_fit(model, config: PIKConfig):
    """:func:`answer_and_split`, then a P(IK) head on the training split at the config's layer.

    Returns:
        ``(data, graded, train, test, layer, acts, head)``; ``acts`` are the question activations
        ``(n, d_model)`` at ``layer``.
    """
    layer = config.layer_index(model.n_layers)
    data, graded, train, test = answer_and_split(model, config)
    acts = question_activations(model, data, config)[:, layer]
    head = fit_pik_head(model, data, training_target(graded, config.target), train, acts, layer, config)
    return data, graded, train, test, layer, acts, head
