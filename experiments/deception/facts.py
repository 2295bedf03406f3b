"""Facts as plain statements, their false versions, and truth probes fitted per layer on other facts.

Shared by the belief-movement studies (``belief_drift``, ``poisoned_training``): a fact is a
question with its answer ("The capital of France is Paris."), its false version uses the question's
most plausible decoy, and the probe that reads it is trained on neutral statements of *other* facts.
"""

from __future__ import annotations

import numpy as np

from veracity.data import QADataset, QAItem, grade
from veracity.hooks import extract
from veracity.hooks.generation import generate, qa_prompts
from veracity.probes import LogisticProbe
from veracity.probes.splits import grouped_split

__all__ = ["FALSE_KINDS", "answer_outcome", "false_answers", "known_facts", "fit_layer_probes", "statement", "statement_pairs"]


def statement(item: QAItem, answer: str) -> str:
    """The fact as a plain statement: "The capital of France is Paris." (else "Question Answer.")."""
    if item.category == "capital" and item.echo:
        return f"The capital {item.echo} is {answer}."
    return f"{item.question} {answer}."


FALSE_KINDS = ("decoy", "swap")
"""How a false statement is made: the question's most plausible decoy (a large city that is not the capital), or
another question's answer of the same topic (another country's capital: a probe cannot tell true from false by
whether the named city is a capital at all)."""


def false_answers(data: QADataset, seed: int, kind: str = "decoy") -> list[str]:
    """Per question, its false answer (``kind``: see :data:`FALSE_KINDS`); a question without decoys gets a seeded
    other answer of its topic either way."""
    if kind not in FALSE_KINDS:
        raise ValueError(f"false answers must be one of {', '.join(FALSE_KINDS)}, got {kind!r}")
    rng = np.random.default_rng(seed)
    out = []
    for item in data.items:
        swapped = [o.answers[0] for o in data.items if o.category == item.category and not grade(item, o.answers[0])]
        pool = list(item.decoys[:1]) if kind == "decoy" and item.decoys else swapped
        if not pool:
            raise ValueError(f"{item.question!r} has no wrong answer to claim: give its topic at least two questions")
        out.append(pool[int(rng.integers(len(pool)))])
    return out


def statement_pairs(data: QADataset, false: list[str], facts) -> tuple[list[str], np.ndarray, list[str]]:
    """The true and the false statement of each fact in ``facts``: texts, labels (1, 0, ...) and groups."""
    texts, labels, groups = [], [], []
    for i in facts:
        item = data.items[int(i)]
        texts += [statement(item, item.answers[0]), statement(item, false[int(i)])]
        labels += [1, 0]
        groups += [item.question] * 2
    return texts, np.array(labels), groups


def fit_layer_probes(model, data: QADataset, false: list[str], facts, layers: list[int], batch_size: int,
                     seed: int) -> tuple[dict[int, LogisticProbe], int, dict[int, float]]:
    """A logistic probe per layer on the neutral true/false statements of ``facts``.

    The headline layer is the most accurate on a grouped validation quarter of those facts (earliest on
    ties); every probe is then refitted on all of them and records its model and layer.

    Returns:
        ``(probes by layer, headline layer, validation accuracy by layer)``.
    """
    texts, labels, groups = statement_pairs(data, false, facts)
    acts = extract(model, texts, layers=layers, batch_size=batch_size, progress=False)
    fit, val = grouped_split(groups, 0.25, seed)
    validation = {layer: float(LogisticProbe(C=0.1).fit(acts[fit, j], labels[fit]).score(acts[val, j], labels[val]))
                  for j, layer in enumerate(layers)}
    best = max(layers, key=lambda layer: (validation[layer], -layer))
    probes = {layer: LogisticProbe(C=0.1).fit(acts[:, j], labels).set_provenance(
        model_id=model.model_id, layer=layer, dataset="neutral fact statements") for j, layer in enumerate(layers)}
    return probes, best, validation


def known_facts(model, data: QADataset, max_new_tokens: int, batch_size: int, seed: int) -> np.ndarray:
    """Which questions the model knows: its greedy answer to the neutral question is right (MASK's belief)."""
    answers = generate(model, qa_prompts(model, data), max_new_tokens=max_new_tokens, batch_size=batch_size,
                       seed=seed)
    return np.array([grade(item, a[0]) for item, a in zip(data.items, answers, strict=True)])


def answer_outcome(item: QAItem, claim: str, answer: str) -> str:
    """``"truth"`` (the answer is right), ``"claim"`` (it says ``claim``) or ``"other"``."""
    if grade(item, answer):
        return "truth"
    claimed = QAItem(item.question, (claim,), item.kind, item.category, echo=item.echo)
    return "claim" if grade(claimed, answer) else "other"
