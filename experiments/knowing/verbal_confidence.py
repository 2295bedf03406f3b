"""Verbalised confidence: after its answer, ask the model how sure it is (0-100) and read the number.

The question goes into the same chat, as a new user turn after the model's own answer
(:func:`veracity.hooks.generation.followup_prompts`); the reply is generated greedily and parsed by
:func:`parse_confidence`. Replies that state no single confidence are *unparseable* and come back
as NaN: the caller decides what they count as (``veracity.experiments.knowing.calibration_gap`` leaves them out of
the verbal score's metrics and reports how many there were).

There is no parse-free read-out here on purpose. SmolLM2's tokenizer writes every number as single
digits ("42" is "4", "2"), so no one next-token distribution covers 0-100, and a digit-by-digit
expectation is ambiguous: the model often answers on a probability scale ("0.999...") whose leading
"0" would be read as 0%.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
from jaxtyping import Float

from veracity.data import QADataset
from veracity.hooks.generation import followup_prompts, generate

__all__ = ["CONFIDENCE_QUESTION", "parse_confidence", "verbal_confidence"]

logger = logging.getLogger(__name__)

CONFIDENCE_QUESTION = "How confident are you that your answer is correct? Reply with a number from 0 to 100."
NUMBER = re.compile(r"\d+(?:\.\d+)?")
PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def parse_confidence(reply: str, complete: bool = True) -> float | None:
    """A confidence in [0, 1] from a free-text reply, or ``None`` when it states no single one.

    Rules, in order:

    1. The first percentage ("99.5%", "80 %") wins: ``value / 100`` (``None`` above 100%).
    2. Otherwise the reply must contain exactly one number; replies with several ("18 times 87 is
       1748", "add 100 to 8") restate arithmetic rather than a confidence and are unparseable.
    3. That number, written with a decimal point and at most 1 ("0.999", "1.00"), is read as a
       probability; otherwise as a percentage in [0, 100] ("85" -> 0.85, "1" -> 0.01); above 100
       it is unparseable.
    4. A reply cut off by the token limit (``complete=False``) that ends in the integer part of a
       number is unparseable: "... The answer is 10" may have been "100". Cut-off decimals
       ("0.99999") only lose precision and are read.

    Args:
        reply: The model's reply to :data:`CONFIDENCE_QUESTION`.
        complete: False when generation stopped at the token limit rather than at end of turn.

    Returns:
        The confidence, or ``None``.

    Example:
        >>> parse_confidence("I'm 99.5% confident that my answer is correct.")
        0.995
        >>> parse_confidence("0.999...")
        0.999
        >>> parse_confidence("The answer is 100."), parse_confidence("18 times 87 is 1748")
        (1.0, None)
        >>> parse_confidence("The answer is 10", complete=False), parse_confidence("0.9999", complete=False)
        (None, 0.9999)
    """
    percent = PERCENT.search(reply)
    if percent:
        return _from_percent(float(percent.group(1)))
    numbers = NUMBER.findall(reply)
    if len(numbers) != 1 or (not complete and reply.endswith(numbers[0]) and "." not in numbers[0]):
        return None
    value = float(numbers[0])
    if "." in numbers[0] and value <= 1:
        return value
    return _from_percent(value)


def _from_percent(value: float) -> float | None:
    """``value / 100`` rounded to 12 decimals (so "99.9%" and "0.999" agree), ``None`` above 100."""
    return round(value / 100, 12) if value <= 100 else None


def verbal_confidence(model, data: QADataset, answers: Sequence[str], max_new_tokens: int = 32,
                      batch_size: int = 16, progress: bool = True) -> tuple[list[str], Float[np.ndarray, " n"]]:
    """Ask the model, after each of its answers, how confident it is; parse each greedy reply.

    Args:
        model: A :class:`veracity.hooks.VeracityModel`.
        data: The questions.
        answers: The model's answer to each question (the assistant turn the follow-up refers to).
        max_new_tokens: Tokens generated at most per reply (a reply whose re-tokenised length
            reaches it counts as cut off, see :func:`parse_confidence`).
        batch_size: Prompts per ``generate`` call.
        progress: Show a progress bar.

    Returns:
        ``(replies, confidence)``: the raw replies, and the parsed confidence in [0, 1] per question
        (NaN where :func:`parse_confidence` found none).

    Example:
        >>> replies, conf = verbal_confidence(model, data, graded.greedy)  # doctest: +SKIP
    """
    prompts = followup_prompts(model, data, answers, CONFIDENCE_QUESTION)
    replies = [r[0] for r in generate(model, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                      progress=progress)]
    lengths = [len(ids) for ids in model.tokenizer(replies, add_special_tokens=False)["input_ids"]]
    parsed = [parse_confidence(r, complete=n < max_new_tokens) for r, n in zip(replies, lengths)]
    confidence = np.array([np.nan if p is None else p for p in parsed], dtype=np.float64)
    logger.info("verbal confidence parsed in %d of %d replies", int(np.isfinite(confidence).sum()), len(replies))
    return replies, confidence
