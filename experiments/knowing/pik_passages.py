"""P(IK) with source material: a passage before the question, read by the bare-trained head and by a mixed one.

Kadavath et al. (2022) saw P(IK) rise when the passage that holds the answer is in context
(18% -> 78%). Here each held-out capital question is asked again with a one-sentence passage before
it: about its own country (relevant; it states the answer) or about another held-out country
(irrelevant, the same length and form). A head trained on bare questions reads a passage-prefixed
prompt as out of distribution: its P(IK) collapses with either passage (docs/results.md), so the
passage's presence, not what it says, moves the reading. The repair trains a second head on a
mix: the training questions bare, and each training capital question after relevant passages in
three wordings and after irrelevant passages about four other training countries, each labelled
with the same training target as the bare questions (``--target``: by default the fraction of the
``--k`` samples that are right), read in that condition. Its weight decay is chosen by
5-fold cross-validation over the training capital questions (grouped by question), on the mean of
its AUROC within the three conditions. A third head, the paired one, learns from the same rows and
targets but reads two activations side by side: the question in its condition and the same question
bare, so what the model knows without the passage stands beside what the passage does to it. Only
training questions ever train or choose a head; the held-out ones are read in all three conditions
(the first wording, one irrelevant passage) by every head.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from veracity.data import QADataset
from veracity.experiments.knowing.pik_parts import training_target
from veracity.hooks import extract
from veracity.hooks.generation import GradedAnswers, answer_and_grade, chat_or_plain, user_turn
from veracity.probes import PIKHead, auroc
from veracity.probes.evaluation import auroc_estimate, mean_estimate

__all__ = ["PASSAGE", "choose_weight_decay", "paired", "passage_heads", "source_passages"]

logger = logging.getLogger(__name__)

PASSAGE = "{capital} is the capital city of {country}, where its national government sits."
"""A relevant passage for a capital question (it states the answer); an irrelevant one names another country's."""
TRAINING_WORDINGS = (PASSAGE, "The capital of {country} is {capital}.", "{country}'s government sits in its capital, {capital}.")
"""The relevant passage's wordings the mixed head trains on (held-out questions are read with the first)."""
IRRELEVANT_PER_QUESTION = 4
"""Irrelevant passages (other training countries) each training question is asked after."""
WEIGHT_DECAYS = (0.01, 0.1, 1.0)
"""The mixed head's weight decays, one chosen by cross-validation over the training capital questions."""
CONDITIONS = ("none", "relevant", "irrelevant")


def _capitals(data: QADataset, rows) -> list[int]:
    return [i for i in np.asarray(rows).tolist() if data.items[i].category == "capital"]


def passage_prompts(model, data: QADataset, rows: list[int], training: bool = False) -> dict[str, list[str]]:
    """Each question's chat prompt with no passage, its own country's (``relevant``), and another country's of
    ``rows`` (``irrelevant``); with ``training`` also ``relevant_1``, ``relevant_2`` (the other wordings) and
    ``irrelevant_1`` ... (other countries), no ``none``."""
    items = [data.items[i] for i in rows]
    countries = [item.echo.removeprefix("of ") for item in items]
    n = len(items)
    if n < 2:
        raise ValueError(f"{n} capital question(s): an irrelevant passage names another of them, so at least 2 are needed")
    shifts = [1 + (n // 2 + k) % (n - 1) for k in range(IRRELEVANT_PER_QUESTION if training else 1)]  # in 1 .. n-1
    texts = {} if training else {"none": [""] * n}
    for k, wording in enumerate(TRAINING_WORDINGS if training else TRAINING_WORDINGS[:1]):
        texts["relevant" + (f"_{k}" if k else "")] = [wording.format(capital=it.answers[0], country=c)
                                                    for it, c in zip(items, countries)]
    for k, shift in enumerate(shifts):  # another country of the same rows, never the question's own
        others = np.roll(np.arange(n), shift)
        texts["irrelevant" + (f"_{k}" if k else "")] = [PASSAGE.format(capital=items[j].answers[0], country=countries[j])
                                                      for j in others]
    return {condition: [chat_or_plain(model.tokenizer, f"{t}\n\n{user_turn(it)}" if t else user_turn(it))
                        for t, it in zip(passages, items)] for condition, passages in texts.items()}


def paired(condition_acts: torch.Tensor, bare_acts: torch.Tensor) -> torch.Tensor:
    """The paired head's input: each question's activation in its condition beside the same question's bare one."""
    return torch.cat([condition_acts, bare_acts], dim=-1)


def _answered(model, data: QADataset, rows: list[int], prompts: list[str], config) -> GradedAnswers:
    """The questions ``rows`` answered after ``prompts``: greedy and ``--k`` samples, as the bare questions are (greedy
    alone where the target is the greedy grade)."""
    k = 0 if config.target == "greedy" else config.k
    return answer_and_grade(model, data.subset(rows), k, config.max_new_tokens, config.temperature,
                            config.batch_size, config.seed, progress=False, prompts=prompts)


def passage_heads(model, data: QADataset, acts, target: np.ndarray, correct: np.ndarray, train: np.ndarray, layer: int,
                  config) -> dict[str, tuple[PIKHead, list[dict]]]:
    """The mixed P(IK) head, fitted on the training questions bare (``acts`` at ``layer``, ``target``; ``correct``: the greedy
    grades, which its cross-validation reads bare questions against) and, for the training capital questions, after
    relevant passages in each wording and irrelevant ones, each labelled with the same ``config.target`` as
    ``target``, read from the answers in that condition (a head whose bare rows learnt the sampled accuracy and its
    passage rows the greedy one would read any passage as knowing); its weight decay chosen by
    :func:`choose_weight_decay`; and beside it the paired head (:func:`paired`), fitted and chosen the same way on
    the same rows, each read beside its question's bare activation.

    Returns:
        ``{"mixed": (head, selection), "paired": (head, selection)}``: each head fitted on every training row, and
        its cross-validation's rows; empty with fewer than 5 training capital questions.
    """
    rows = _capitals(data, train)
    if len(rows) < 5:
        return {}
    prompts = passage_prompts(model, data, rows, training=True)
    answers = {c: _answered(model, data, rows, p, config) for c, p in prompts.items()}
    graded = {c: a.correct.astype(np.float64) for c, a in answers.items()}
    targets = {c: training_target(a, config.target) for c, a in answers.items()}
    passage_acts = {c: extract(model, p, layers=[layer], batch_size=config.batch_size, progress=False)[:, 0]
                    for c, p in prompts.items()}
    capitals = set(rows)
    bare = np.array([i for i in np.asarray(train).tolist() if i not in capitals])  # the other training questions

    heads = {}
    for name in ("mixed", "paired"):
        bare_x = paired(acts, acts) if name == "paired" else acts
        condition_x = ({c: paired(a, acts[rows]) for c, a in passage_acts.items()} if name == "paired"
                       else passage_acts)

        def fit(keep: np.ndarray, weight_decay: float, bare_x=bare_x, condition_x=condition_x) -> PIKHead:
            questions = np.concatenate([bare, np.asarray(rows)[keep]]).astype(np.int64)
            x = [bare_x[questions], *(condition_x[c][keep] for c in prompts)]
            y = [target[questions], *(targets[c][keep] for c in prompts)]
            head = PIKHead(hidden=config.hidden or None, weight_decay=weight_decay, seed=config.seed)
            return head.fit(torch.cat(x), np.concatenate(y))

        weight_decay, selection = choose_weight_decay(fit, bare_x[rows], correct[rows], condition_x, graded,
                                                      config.seed)
        heads[name] = fit(np.arange(len(rows)), weight_decay), selection
    return heads


def choose_weight_decay(fit, bare_acts, bare_correct: np.ndarray, passage_acts: dict, graded: dict, seed: int,
                        folds: int = 5) -> tuple[float, list[dict]]:
    """The weight decay of :data:`WEIGHT_DECAYS` whose head ranks best inside each condition on held-out folds of the
    training capital questions: ``fit(keep, weight_decay)`` fits on the questions ``keep`` (positions), and each
    fold's questions are read bare, after the first relevant wording and after the first irrelevant passage; the
    criterion is the mean of the three pooled AUROCs (ties: the first, smallest decay).

    Returns:
        ``(weight_decay, rows)``: the chosen decay, and per decay the AUROC in each condition.
    """
    n = len(bare_correct)
    parts = np.array_split(np.random.default_rng(seed).permutation(n), min(folds, n))
    labels = {"none": np.asarray(bare_correct), "relevant": graded["relevant"],
              "irrelevant": graded["irrelevant"]}
    reads = {"none": bare_acts, "relevant": passage_acts["relevant"], "irrelevant": passage_acts["irrelevant"]}
    rows = []
    for weight_decay in WEIGHT_DECAYS:
        scores = {c: np.zeros(n) for c in CONDITIONS}
        for part in parts:
            head = fit(np.setdiff1d(np.arange(n), part), weight_decay)
            for c in CONDITIONS:
                scores[c][part] = np.asarray(head.predict_true(reads[c][part]), dtype=np.float64)
        row = {"weight_decay": weight_decay, **{f"auroc_{c}": (auroc(scores[c], labels[c])
                                                             if 0 < labels[c].sum() < n else None) for c in CONDITIONS}}
        known = [v for k, v in row.items() if k.startswith("auroc_") and v is not None]
        row["mean_auroc"] = float(np.mean(known)) if known else 0.5
        rows.append(row)
    best = max(rows, key=lambda r: r["mean_auroc"])  # max keeps the first of equals
    return best["weight_decay"], rows


def source_passages(model, data: QADataset, heads: dict[str, PIKHead], layer: int, test: np.ndarray, config,
                    bare_acts: torch.Tensor | None = None) -> dict:
    """Accuracy, and each head's mean P(IK) and AUROC, with no passage, a relevant and an irrelevant one, on the
    held-out capital questions (empty with fewer than 4 of them).

    Returns:
        Per condition: ``n``, ``accuracy`` (the greedy answer's), ``mean_target`` (the mean of the heads'
        training target, ``--target``, in that condition: what a calibrated mean P(IK) equals), and per head
        ``mean_p_ik[_NAME]``, ``mean_logit[_NAME]`` (where the reading moves, unsquashed) and ``auroc[_NAME]``
        (bootstrap intervals), and an example prompt; the head named ``""`` is the bare-trained one, and the one named
        ``"paired"`` reads each question beside its bare activation (``bare_acts``, every question's, at ``layer``).
    """
    if "paired" in heads and bare_acts is None:
        raise ValueError("the paired head reads each question beside its bare activation: pass bare_acts (every "
                         "question's activation at the head's layer)")
    rows = _capitals(data, test)
    if len(rows) < 4:
        return {}
    prompts = passage_prompts(model, data, rows)
    out = {}
    for condition in CONDITIONS:
        answers = _answered(model, data, rows, prompts[condition], config)
        correct = answers.correct
        acts = extract(model, prompts[condition], layers=[layer], batch_size=config.batch_size, progress=False)[:, 0]
        entry = {"n": len(rows), "accuracy": mean_estimate(correct, config.seed),
                 "mean_target": mean_estimate(training_target(answers, config.target), config.seed)}
        for name, head in heads.items():
            suffix = f"_{name}" if name else ""
            read = paired(acts, bare_acts[rows]) if name == "paired" else acts
            p_ik = np.asarray(head.predict_true(read), dtype=np.float64)
            logit = np.log(np.clip(p_ik, 1e-12, 1)) - np.log(np.clip(1 - p_ik, 1e-12, 1))
            entry[f"mean_p_ik{suffix}"] = mean_estimate(p_ik, config.seed)
            entry[f"mean_logit{suffix}"] = float(logit.mean())
            entry[f"auroc{suffix}"] = (auroc_estimate(p_ik, correct, config.seed)
                                       if 0 < correct.sum() < len(correct) else None)
        entry["example_prompt"] = prompts[condition][0]
        out[condition] = entry
        logger.info("passage %-10s accuracy %.3f  mean P(IK) %s", condition, correct.mean(),
                    "  ".join(f"{n or 'bare'} {entry['mean_p_ik' + (f'_{n}' if n else '')]['value']:.3f}"
                              for n in heads))
    return out
