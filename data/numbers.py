"""Number comparisons generated in code: "Fifty-one is larger than fifty-two." (and its negation).

Every unordered pair of distinct numbers appears in both orders, so the dataset is balanced and
each number is as often the larger as the smaller; the negated form "X is not larger than Y."
flips the label. Built-ins: ``larger_than`` and ``neg_larger_than`` (800 rows each).
"""

from __future__ import annotations

import numpy as np

from veracity.data.statements import StatementDataset, register_dataset

__all__ = ["larger_than_statements", "neg_larger_than_statements", "number_words"]

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for ``0 <= n <= 99``, hyphenated as in "fifty-one".

    Example:
        >>> number_words(51)
        'fifty-one'
    """
    if not 0 <= n <= 99:
        raise ValueError(f"number_words covers 0..99, got {n}")
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + ("" if ones == 0 else "-" + ONES[ones])


def _pairs(n_pairs: int, low: int, high: int, seed: int) -> list[tuple[int, int]]:
    all_pairs = [(a, b) for a in range(low, high + 1) for b in range(a + 1, high + 1)]
    if n_pairs > len(all_pairs):
        raise ValueError(f"only {len(all_pairs)} pairs exist in {low}..{high}: ask for fewer or widen the range")
    chosen = np.random.default_rng(seed).choice(len(all_pairs), n_pairs, replace=False)
    return [all_pairs[i] for i in sorted(chosen)]


def larger_than_statements(
    n_pairs: int = 400, low: int = 51, high: int = 99, seed: int = 0, words: bool = True
) -> StatementDataset:
    """"X is larger than Y." for random pairs, each in both orders (label 1 when X > Y).

    Args:
        n_pairs: Unordered pairs drawn (the dataset has ``2 * n_pairs`` rows).
        low: Smallest number.
        high: Largest number (at most 99 with ``words``).
        seed: Seed for the pair draw.
        words: Spell numbers out ("Fifty-one") as Geometry-of-Truth does; else digits.

    Returns:
        A balanced :class:`StatementDataset` with ``n1``, ``n2`` extras.

    Example:
        >>> larger_than_statements(1, low=1, high=2).statements
        ['One is larger than two.', 'Two is larger than one.']
    """
    statements, labels, extra = [], [], {"n1": [], "n2": []}
    spell = number_words if words else str
    for a, b in _pairs(n_pairs, low, high, seed):
        for x, y in ((a, b), (b, a)):
            statements.append(f"{spell(x).capitalize()} is larger than {spell(y)}.")
            labels.append(int(x > y))
            extra["n1"].append(x)
            extra["n2"].append(y)
    return StatementDataset(statements, labels, "larger_than", extra)


def neg_larger_than_statements(
    n_pairs: int = 400, low: int = 51, high: int = 99, seed: int = 0, words: bool = True
) -> StatementDataset:
    """The negated twin of :func:`larger_than_statements`: "X is not larger than Y." (labels flipped)."""
    base = larger_than_statements(n_pairs, low, high, seed, words)
    statements = [s.replace(" is larger than ", " is not larger than ", 1) for s in base.statements]
    return StatementDataset(statements, 1 - base.labels, "neg_larger_than", dict(base.extra))


register_dataset("larger_than")(larger_than_statements)
register_dataset("neg_larger_than")(neg_larger_than_statements)
