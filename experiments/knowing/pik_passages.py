"""P(IK) with source material: a passage before the question, read by the bare-trained head and by a mixed one.

Kadavath et al. (2022) saw P(IK) rise when the passage that holds the answer is in context
(18% -> 78%). Here each held-out capital question is asked again with a one-sentence passage before
it: about its own country (relevant; it states the answer) or about another held-out country
(irrelevant, the same length and form). A head trained on bare questions reads a passage-prefixed
prompt as out of distribution: its P(IK) collapses with either passage (docs/results.md), so the
passage's presence, not what it says, moves the reading. The repair trains a second head on a
mix: the training questions bare and with a relevant and an irrelevant passage (another training
country), each labelled by whether the model's greedy answer in that condition was right. Only
training questions ever train a head; the held-out ones are read in all three conditions by both.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from veracity.data import QADataset, grade
from veracity.hooks import extract
from veracity.hooks.generation import chat_or_plain, generate, user_turn
from veracity.probes import PIKHead
from veracity.probes.evaluation import auroc_estimate, mean_estimate

__all__ = ["PASSAGE", "mixed_head", "source_passages"]

logger = logging.getLogger(__name__)

PASSAGE = "{capital} is the capital city of {country}, where its national government sits."
"""A relevant passage for a capital question (it states the answer); an irrelevant one names another country's."""
CONDITIONS = ("none", "relevant", "irrelevant")


def _capitals(data: QADataset, rows) -> list[int]:
    return [i for i in np.asarray(rows).tolist() if data.items[i].category == "capital"]


def passage_prompts(model, data: QADataset, rows: list[int]) -> dict[str, list[str]]:
    """Each question's chat prompt with no passage, its own country's, and another country's of ``rows``."""
    items = [data.items[i] for i in rows]
    countries = [item.echo.removeprefix("of ") for item in items]
    others = np.roll(np.arange(len(items)), 1 + len(items) // 2)  # another country of the same rows, never the same
    texts = {"none": [""] * len(items),
             "relevant": [PASSAGE.format(capital=it.answers[0], country=c) for it, c in zip(items, countries)],
             "irrelevant": [PASSAGE.format(capital=items[j].answers[0], country=countries[j]) for j in others]}
    return {condition: [chat_or_plain(model.tokenizer, f"{t}\n\n{user_turn(it)}" if t else user_turn(it))
                        for t, it in zip(passages, items)] for condition, passages in texts.items()}


def _answered(model, data: QADataset, rows: list[int], prompts: list[str], config) -> np.ndarray:
    answers = [r[0] for r in generate(model, prompts, max_new_tokens=config.max_new_tokens,
                                      batch_size=config.batch_size, progress=False)]
    return np.array([grade(data.items[i], a) for i, a in zip(rows, answers)], dtype=np.int64)


def mixed_head(model, data: QADataset, acts, target: np.ndarray, train: np.ndarray, layer: int, config) -> PIKHead | None:
    """A P(IK) head fitted on the training questions bare (``acts`` at ``layer``, ``target``) and, for the training
    capital questions, with a relevant and an irrelevant passage (labelled by the greedy answer's grade there);
    ``None`` with fewer than 4 training capital questions."""
    rows = _capitals(data, train)
    if len(rows) < 4:
        return None
    prompts = passage_prompts(model, data, rows)
    x, y = [acts[train]], [target[train]]
    for condition in ("relevant", "irrelevant"):
        y.append(_answered(model, data, rows, prompts[condition], config).astype(np.float64))
        x.append(extract(model, prompts[condition], layers=[layer], batch_size=config.batch_size, progress=False)[:, 0])
    head = PIKHead(hidden=config.hidden or None, weight_decay=config.weight_decay, seed=config.seed)
    return head.fit(torch.cat(x), np.concatenate(y))


def source_passages(model, data: QADataset, heads: dict[str, PIKHead], layer: int, test: np.ndarray, config) -> dict:
    """Accuracy, and each head's mean P(IK) and AUROC, with no passage, a relevant and an irrelevant one, on the
    held-out capital questions (empty with fewer than 4 of them).

    Returns:
        Per condition: ``n``, ``accuracy``, and per head ``mean_p_ik[_NAME]``, ``mean_logit[_NAME]`` (where the
        reading moves, unsquashed) and ``auroc[_NAME]`` (bootstrap intervals), and an example prompt; the head
        named ``""`` is the bare-trained one.
    """
    rows = _capitals(data, test)
    if len(rows) < 4:
        return {}
    prompts = passage_prompts(model, data, rows)
    out = {}
    for condition in CONDITIONS:
        correct = _answered(model, data, rows, prompts[condition], config)
        acts = extract(model, prompts[condition], layers=[layer], batch_size=config.batch_size, progress=False)[:, 0]
        entry = {"n": len(rows), "accuracy": mean_estimate(correct, config.seed)}
        for name, head in heads.items():
            suffix = f"_{name}" if name else ""
            p_ik = np.asarray(head.predict_true(acts), dtype=np.float64)
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
