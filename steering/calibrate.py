"""A suggested coefficient for every vector, calibrated on the model it steers.

The suggested coefficient is the largest ``c`` such that adding ``c * vector`` at every one of
the vector's layers keeps the mean next-token KL divergence on neutral text,
``KL(p_unsteered || p_steered)`` averaged over every real token of :data:`NEUTRAL_TEXTS`, at or
below :data:`KL_BOUND` nats. It is found by doubling from one residual norm's worth of the
vector until the bound is crossed, then bisecting. A small KL alone does not keep the model
itself: at a coefficient within the bound, greedy answers can leave the task or the language. So
the suggestion can then be checked on what a user sees (``check_answers=True``, :func:`answers_kept`): greedy answers to
:data:`ANSWER_QUESTIONS` plain capital questions must keep their accuracy within
:data:`ANSWER_TOLERANCE` and stay in the prompt's script; the coefficient is halved until they do.
(about five short generations of 12 answers: a few seconds on a CPU). Both figures are recorded in the vector's ``extra["coefficient_calibration"]`` and shown by
``veracity export``. That is the scale a user can hand to ``llama.cpp --control-vector-scaled``
without breaking the model; stronger effects are a deliberate choice, measured by the studies.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch
from tqdm.auto import tqdm

from veracity.data import capital_questions, grade
from veracity.hooks.extract import right_pad, run_layers, tokenize
from veracity.hooks.generation import generate, qa_prompts
from veracity.hooks.model import VeracityModel
from veracity.steering.apply import steer
from veracity.steering.vector import SteeringVector

__all__ = ["ANSWER_QUESTIONS", "ANSWER_TOLERANCE", "KL_BOUND", "NEUTRAL_TEXTS", "answers_kept",
           "calibrate_coefficient", "neutral_kl", "neutral_kl_by_text", "with_calibrated_coefficient"]

logger = logging.getLogger(__name__)

KL_BOUND = 0.1
"""Nats per token: the most a suggested coefficient may move the next-token distribution on neutral text."""

NEUTRAL_TEXTS = (
    "The weather today is mild, with a light breeze in the afternoon.",
    "She put the kettle on and waited for the water to boil.",
    "A library lends books, music and films to its members.",
    "The train leaves the station at half past nine every morning.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "He wrote a short list of groceries before going to the market.",
    "The museum opens at ten and closes at six on weekdays.",
    "Rivers carry sediment from the mountains down to the sea.",
)
"""Plain sentences with nothing to be honest or dishonest about."""


def _batch(model: VeracityModel, texts):
    rows = tokenize(model, list(texts))
    return right_pad(rows, model.tokenizer.pad_token_id, model.device)


def neutral_kl(model: VeracityModel, vector: SteeringVector, coefficient: float, texts=NEUTRAL_TEXTS,
               base: torch.Tensor | None = None, batch=None) -> float:
    """Mean per-token ``KL(p_unsteered || p_steered)`` on ``texts`` with ``coefficient * vector`` added.

    ``base`` (unsteered log-probabilities) and ``batch`` (``(ids, mask)`` of ``texts``) may be passed
    to skip recomputing them.
    """
    ids, mask = batch if batch is not None else _batch(model, texts)
    with torch.no_grad():
        if base is None:
            base = torch.log_softmax(model.engine.logits(ids, mask).float(), dim=-1)
        with steer(model, vector, coefficient=coefficient):
            steered = torch.log_softmax(model.engine.logits(ids, mask).float(), dim=-1)
    kl = (base.exp() * (base - steered)).sum(-1)
    return float(kl[mask.bool()].mean())


def neutral_kl_by_text(model: VeracityModel, vector: SteeringVector, coefficient: float,
                       texts=NEUTRAL_TEXTS) -> torch.Tensor:
    """Per text, the mean per-token ``KL(p_unsteered || p_steered)`` (what an interval over texts resamples).

    Returns:
        A float tensor of shape ``(len(texts),)``, in nats per token.
    """
    ids, mask = _batch(model, texts)
    with torch.no_grad():
        base = torch.log_softmax(model.engine.logits(ids, mask).float(), dim=-1)
        with steer(model, vector, coefficient=coefficient):
            steered = torch.log_softmax(model.engine.logits(ids, mask).float(), dim=-1)
    kl = (base.exp() * (base - steered)).sum(-1) * mask
    return (kl.sum(1) / mask.sum(1)).cpu()


def calibrate_coefficient(model: VeracityModel, vector: SteeringVector, kl_bound: float = KL_BOUND,
                          texts=NEUTRAL_TEXTS, steps: int = 10,
                          progress: bool = True) -> tuple[float, list[tuple[float, float]]]:
    """The largest coefficient whose neutral-text KL stays at or below ``kl_bound``.

    Args:
        model: The model the vector steers.
        vector: The vector (all its layers are steered together).
        kl_bound: Nats per token.
        texts: Neutral texts.
        steps: Bisection steps after bracketing.
        progress: Show a progress bar over the KL measurements.

    Returns:
        ``(coefficient, curve)``: the coefficient and every ``(coefficient, KL)`` measured.

    Example:
        >>> c, curve = calibrate_coefficient(model, vector)
    """
    if not kl_bound > 0:
        raise ValueError(f"kl_bound must be > 0 nats, got {kl_bound}")
    vector.validate_for(model)
    ids, mask = _batch(model, texts)
    with torch.no_grad():
        base = torch.log_softmax(model.engine.logits(ids, mask).float(), dim=-1)
        resid = run_layers(model, ids, mask, vector.layers)
    real = mask.bool()
    resid_norm = torch.stack([resid[layer][real].float().norm(dim=-1).mean() for layer in vector.layers]).mean()
    vec_norm = torch.stack([vector[layer].norm() for layer in vector.layers]).mean()
    curve: list[tuple[float, float]] = []
    bar = tqdm(desc="calibrate coefficient", unit="KL", leave=False, disable=not progress)

    def kl(c: float) -> float:
        value = neutral_kl(model, vector, c, texts, base, (ids, mask))
        curve.append((c, value))
        bar.update()
        return value

    low, high = 0.0, float(resid_norm / vec_norm) / 64  # 1/64 of one residual norm's worth
    with bar:
        while kl(high) <= kl_bound:
            low, high = high, high * 2
            if high > 64 * float(resid_norm / vec_norm):
                return low, curve  # never crosses the bound within 64 residual norms
        for _ in range(steps):
            mid = (low + high) / 2
            low, high = (mid, high) if kl(mid) <= kl_bound else (low, mid)
    return low, curve


ANSWER_QUESTIONS = 12
"""Plain capital questions the suggested coefficient must leave answerable (a seeded sample of the built-in set)."""

ANSWER_TOKENS = 12
"""Greedy tokens per answer: enough for a sentence like "The capital of the United States is Washington, D.C."."""

ANSWER_TOLERANCE = 0.1
"""The most the share of right (and of same-script) greedy answers may fall at the suggested coefficient."""


_UNSTEERED: dict[tuple, dict] = {}
"""The unsteered answers' figures per model (weights fingerprint and active steering): measured once per process."""


def _script_kept(prompt: str, answer: str) -> bool:
    """Whether ``answer`` stays in the prompt's script: no more than 5% of its letters outside ASCII when the
    prompt's letters are all ASCII (a heuristic for "the answer is still in the prompt's language")."""
    letters = [ch for ch in answer if ch.isalpha()]
    if not letters or not all(ch.isascii() for ch in prompt if ch.isalpha()):
        return True
    return sum(not ch.isascii() for ch in letters) <= 0.05 * len(letters)


def answers_kept(model: VeracityModel, vector: SteeringVector, start: float, n_questions: int = ANSWER_QUESTIONS,
                 tolerance: float = ANSWER_TOLERANCE, max_halvings: int = 3) -> tuple[float, dict]:
    """The largest of ``start, start / 2, start / 4, ...`` at which greedy answers to plain questions keep the model.

    Kept means: the share of right answers to ``n_questions`` capital questions, and the share of answers
    in the prompt's script, each fall by at most ``tolerance`` from the unsteered model's.

    Returns:
        ``(coefficient, record)``: the coefficient (0.0 if none of the tries kept the answers) and what was
        measured (the unsteered figures, each try, an example answer at the coefficient).
    """
    data = capital_questions(n_questions, seed=0)
    prompts = qa_prompts(model, data)

    def measure(c: float) -> dict:
        with steer(model, vector, coefficient=c):
            answers = [a[0] for a in generate(model, prompts, max_new_tokens=ANSWER_TOKENS, progress=False)]
        return {"coefficient": c,
                "accuracy": sum(grade(item, a) for item, a in zip(data.items, answers, strict=True)) / len(answers),
                "same_script": sum(_script_kept(p, a) for p, a in zip(prompts, answers, strict=True)) / len(answers),
                "example": answers[0]}

    key = (model.fingerprint, repr(model.engine.steering), n_questions)  # unsteered answers depend on these only
    if key not in _UNSTEERED:
        _UNSTEERED[key] = measure(0.0)
    base, tries, c = _UNSTEERED[key], [], start
    for _ in range(max_halvings + 1):
        tried = measure(c)
        tries.append(tried)
        if tried["accuracy"] >= base["accuracy"] - tolerance and tried["same_script"] >= base["same_script"] - tolerance:
            break
        c /= 2
    else:
        c = 0.0
    record = {"n_questions": len(data), "tolerance": tolerance, "unsteered": base, "tries": tries,
              "coefficient": c, "measure": "greedy answers to plain capital questions: accuracy and same script"}
    return c, record


def with_calibrated_coefficient(model: VeracityModel, vector: SteeringVector, kl_bound: float = KL_BOUND,
                                texts=NEUTRAL_TEXTS, check_answers: bool = False) -> SteeringVector:
    """``vector`` with ``coefficient`` set by :func:`calibrate_coefficient`, then (``check_answers=True``) lowered
    by :func:`answers_kept` until greedy answers to plain questions keep their accuracy and script; both
    calibrations are recorded in ``extra["coefficient_calibration"]``. The answer check costs a few short
    generations (about 10 s for SmolLM2 on a CPU), so the builders leave it to the caller; ``veracity run
    honesty_steering`` (and so ``make demo``) runs it on the vector it exports."""
    by_kl, curve = calibrate_coefficient(model, vector, kl_bound, texts)
    record = {"kl_bound": kl_bound, "n_texts": len(texts), "coefficient_kl": by_kl,
              "kl_at_coefficient": next((k for c, k in reversed(curve) if c == by_kl), None),
              "measure": "mean next-token KL(unsteered || steered) over real tokens of neutral text, all layers"}
    coefficient = by_kl
    if check_answers and by_kl > 0:
        coefficient, record["answers"] = answers_kept(model, vector, by_kl)
    record["coefficient"] = coefficient
    logger.info("suggested coefficient %.4g (neutral-text KL <= %.3g nats/token at up to %.4g%s)", coefficient,
                kl_bound, by_kl, "; greedy answers to plain questions kept" if check_answers else "")
    return replace(vector, coefficient=coefficient, extra={**vector.extra, "coefficient_calibration": record})
