"""Arithmetic sub-tasks of graded difficulty, in the spirit of Lin, Hilton and Evans (2022)'s CalibratedMath.

Each sub-task is a family of questions a model gets right at its own rate (adding small numbers
almost always, multiplying three-digit numbers rarely), so a model that states a confidence can be
checked per sub-task, and a shift in distribution is "sub-tasks never trained on". The questions are
veracity's own; every item records its sub-task (``category``) and its difficulty rank, and the
whole set is a deterministic function of the seed.

Example:
    >>> data = calibrated_math(n_per_task=20, seed=0)
    >>> data.items[0].category, data.items[0].question
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from veracity.data.qa import QADataset, QAItem

__all__ = ["MATH_TASKS", "calibrated_math"]


def _n(rng: np.random.Generator, digits: int) -> int:
    return int(rng.integers(10 ** (digits - 1) if digits > 1 else 1, 10**digits))


def _add(da: int, db: int) -> Callable:
    def make(rng):
        a, b = _n(rng, da), _n(rng, db)
        return f"What is {a} + {b}?", a + b
    return make


def _subtract(da: int, db: int) -> Callable:
    def make(rng):
        a, b = sorted((_n(rng, da), _n(rng, db)), reverse=True)
        return f"What is {a} - {b}?", a - b
    return make


def _multiply(da: int, db: int) -> Callable:
    def make(rng):
        a, b = _n(rng, da), _n(rng, db)
        return f"What is {a} times {b}?", a * b
    return make


def _divide(db: int, dq: int) -> Callable:
    def make(rng):
        b, q = max(2, _n(rng, db)), _n(rng, dq)
        return f"What is {b * q} divided by {b}?", q
    return make


def _remainder(da: int) -> Callable:
    def make(rng):
        a, b = _n(rng, da), int(rng.integers(3, 10))
        return f"What is the remainder when {a} is divided by {b}?", a % b
    return make


def _round(digits: int) -> Callable:
    def make(rng):
        a = _n(rng, digits)
        return f"What is {a} rounded to the nearest ten?", int(np.floor(a / 10 + 0.5) * 10)
    return make


def _next_in_sequence(step_digits: int) -> Callable:
    def make(rng):
        start, step = _n(rng, 2), _n(rng, step_digits)
        terms = [start + k * step for k in range(4)]
        return f"What number comes next: {', '.join(map(str, terms))}?", start + 4 * step
    return make


def _square(digits: int) -> Callable:
    def make(rng):
        a = _n(rng, digits)
        return f"What is {a} squared?", a * a
    return make


MATH_TASKS: dict[str, Callable] = {
    "add_1d": _add(1, 1),
    "subtract_1d": _subtract(1, 1),
    "round_2d": _round(2),
    "add_2d": _add(2, 2),
    "next_in_sequence": _next_in_sequence(1),
    "multiply_1d": _multiply(1, 1),
    "subtract_2d": _subtract(2, 2),
    "divide_1d": _divide(1, 1),
    "square_1d": _square(1),
    "add_3d": _add(3, 3),
    "remainder_2d": _remainder(2),
    "multiply_2dx1d": _multiply(2, 1),
    "round_4d": _round(4),
    "divide_2d": _divide(1, 2),
    "square_2d": _square(2),
    "subtract_4d": _subtract(4, 4),
    "multiply_2d": _multiply(2, 2),
    "multiply_3d": _multiply(3, 3),
}
"""Sub-task name -> question maker, roughly easiest first (the order gives each item's ``difficulty``)."""


def calibrated_math(n_per_task: int = 50, seed: int = 0, tasks: Sequence[str] | None = None) -> QADataset:
    """``n_per_task`` questions of each sub-task, deterministic for ``seed``, no question asked twice.

    Args:
        n_per_task: Questions per sub-task (fewer if a small sub-task runs out of distinct questions).
        seed: Seed of the operands (each sub-task draws from its own generator, so adding a sub-task
            never changes another's questions).
        tasks: Names from :data:`MATH_TASKS` (default: all, easiest first).

    Returns:
        A :class:`QADataset` of ``"number"`` items; ``category`` is the sub-task, ``difficulty`` its rank.
    """
    names = list(MATH_TASKS) if tasks is None else list(tasks)
    unknown = [name for name in names if name not in MATH_TASKS]
    if unknown:
        raise ValueError(f"unknown sub-task {unknown[0]!r}: choose from {', '.join(MATH_TASKS)}")
    if isinstance(n_per_task, bool) or not isinstance(n_per_task, int) or n_per_task < 1:
        raise ValueError(f"n_per_task must be a positive integer, got {n_per_task!r}")
    items = []
    for name in names:
        rank = list(MATH_TASKS).index(name)
        rng = np.random.default_rng([seed, rank])
        seen: set[str] = set()
        for _ in range(20 * n_per_task):
            if len(seen) == n_per_task:
                break
            question, answer = MATH_TASKS[name](rng)
            if question not in seen:
                seen.add(question)
                items.append(QAItem(question, (str(answer),), "number", name, rank))
    return QADataset(items, "calibrated_math")
