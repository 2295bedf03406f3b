"""A suggested coefficient for every vector, calibrated on the model it steers.

The suggested coefficient is the largest ``c`` such that adding ``c * vector`` at every one of
the vector's layers keeps the mean next-token KL divergence on neutral text,
``KL(p_unsteered || p_steered)`` averaged over every real token of :data:`NEUTRAL_TEXTS`, at or
below :data:`KL_BOUND` nats. It is found by doubling from one residual norm's worth of the
vector until the bound is crossed, then bisecting. That is the scale a user can hand to
``llama.cpp --control-vector-scaled`` without breaking the model; stronger effects are a
deliberate choice, measured by the studies.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch
from tqdm.auto import tqdm

from veracity.hooks.extract import right_pad, run_layers, tokenize
from veracity.hooks.model import VeracityModel
from veracity.steering.apply import steer
from veracity.steering.vector import SteeringVector

__all__ = ["KL_BOUND", "NEUTRAL_TEXTS", "calibrate_coefficient", "neutral_kl", "neutral_kl_by_text",
           "with_calibrated_coefficient"]

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


def with_calibrated_coefficient(model: VeracityModel, vector: SteeringVector, kl_bound: float = KL_BOUND,
                                texts=NEUTRAL_TEXTS) -> SteeringVector:
    """``vector`` with ``coefficient`` set by :func:`calibrate_coefficient` and the calibration in ``extra``."""
    coefficient, curve = calibrate_coefficient(model, vector, kl_bound, texts)
    logger.info("suggested coefficient %.4g (neutral-text KL <= %.3g nats/token)", coefficient, kl_bound)
    record = {"kl_bound": kl_bound, "n_texts": len(texts), "coefficient": coefficient,
              "kl_at_coefficient": next((k for c, k in reversed(curve) if c == coefficient), None),
              "measure": "mean next-token KL(unsteered || steered) over real tokens of neutral text, all layers"}
    return replace(vector, coefficient=coefficient, extra={**vector.extra, "coefficient_calibration": record})
