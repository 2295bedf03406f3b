"""Declared constraints on settings, checked in one place with one wording.

A config (or an estimator) states what each setting may be, once, in the spirit of scikit-learn's
``_parameter_constraints``; :func:`check_constraints` writes the one-line message, so no range check
is written out by hand twice::

    constraints = {"test_fraction": [Interval(float, 0, 1, closed="neither")],
                   "n": [Interval(int, 0, note="0 = all questions")],
                   "method": [Options("lora", "full")]}

gives ``--test-fraction must be in (0, 1), got 1.5`` and ``--n must be >= 0 (0 = all questions), got -1``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

__all__ = ["FRACTION", "Interval", "Options", "check_constraints", "check_value", "declared"]


class Interval:
    """A number of one kind (``int`` or ``float``) between optional bounds.

    Args:
        kind: ``int`` (whole numbers, not bools) or ``float`` (any finite real number, not bools).
        low: Lower bound, or ``None``.
        high: Upper bound, or ``None``.
        closed: Which bounds belong to the interval: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``.
        note: What a special value means, added to the message (e.g. ``"0 = all questions"``).
    """

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, closed: str = "both",
                 note: str = ""):
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval(kind={kind!r}, closed={closed!r}): kind is int or float, closed is both, "
                             "left, right or neither")
        self.kind, self.low, self.high, self.closed, self.note = kind, low, high, closed, note

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.kind is int else numbers.Real):
            return False
        if not math.isfinite(value):
            return False
        left_in, right_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left_in)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not right_in)))

    def describe(self) -> str:
        left_in, right_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            text = f"in {'[' if left_in else '('}{self.low}, {self.high}{']' if right_in else ')'}"
        elif self.low is not None:
            text = f"{'>=' if left_in else '>'} {self.low}"
        elif self.high is not None:
            text = f"{'<=' if right_in else '<'} {self.high}"
        else:
            text = "a whole number" if self.kind is int else "a finite number"
        return text + (f" ({self.note})" if self.note else "")


class Options:
    """One of a fixed set of values (strings, usually)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return value in self.values

    def describe(self) -> str:
        return f"one of {', '.join(map(str, self.values))}"


FRACTION = Interval(float, 0, 1, closed="neither")
"""A share strictly between 0 and 1 (a held-out fraction, a train fraction)."""


def declared(cls: type, attribute: str) -> dict:
    """The constraints ``cls`` and its bases declare in the class attribute ``attribute`` (a subclass's win)."""
    merged: dict = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get(attribute, {}))
    return merged


def check_constraints(owner, constraints: Mapping[str, Sequence], name: Callable[[str], str] = str) -> None:
    """Raise ``ValueError`` (one line) for the first setting of ``owner`` that meets none of its constraints.

    Args:
        owner: The object whose attributes are checked (a config, an estimator).
        constraints: Attribute name -> the constraints it may meet (any one of them).
        name: How a setting is named in the message (e.g. ``--test-fraction`` for ``test_fraction``).
    """
    for attribute, rules in constraints.items():
        check_value(name(attribute), getattr(owner, attribute), *rules)


def check_value(name: str, value, *rules) -> None:
    """The same check for one function argument: ``check_value("alpha", alpha, FRACTION)``."""
    if not any(rule.accepts(value) for rule in rules):
        raise ValueError(f"{name} must be {' or '.join(rule.describe() for rule in rules)}, got {value!r}")
