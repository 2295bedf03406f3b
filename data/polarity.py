"""Polarity pairs: a statement A and its negation not-A, each with a "no" and a "yes" completion.

The text layout is ``(n, 2, 2)``: ``[A / not-A][no / yes]``, the input :class:`veracity.probes.PolarityAwareCCS`
wants once the ``4n`` prompts are extracted and reshaped to ``(n, 2, 2, d_model)``. ``labels`` is the
truth of A (so not-A is true when the label is 0). A control replaces the negation word with a
meaningless token ("The city of X is blick in Y."): the second statement then means nothing, and a
probe that only tracks the word "not" rather than truth should behave differently on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veracity.data.cities import city_statements, neg_city_statements
from veracity.data.contrast import ContrastTemplate, contrast_pairs
from veracity.data.numbers import larger_than_statements, neg_larger_than_statements
from veracity.data.statements import StatementDataset

__all__ = ["POLARITY_KINDS", "PolarityPairs", "negation_control", "polarity_from_datasets", "polarity_pairs",
           "replace_negation"]


@dataclass
class PolarityPairs:
    """Statements A, their negations not-A, and the truth of A.

    Attributes:
        affirmed: The A statements.
        negated: The not-A statements (or, for a control, A with a meaningless word inserted).
        labels: 1 = A is true, 0 = A is false.
        name: Where the pairs came from.
        negation: The word that turns A into not-A (``"not"``; a control's nonsense token).
        control: True when ``negated`` uses a meaningless token instead of a negation.
        groups: The entity each pair is about (see :meth:`StatementDataset.groups`); default: each
            pair its own group.
    """

    affirmed: list[str]
    negated: list[str]
    labels: np.ndarray
    name: str = "polarity"
    negation: str = "not"
    control: bool = False
    groups: np.ndarray | None = None

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.groups is None:
            self.groups = np.array([f"row:{i}" for i in range(len(self.labels))])
        self.groups = np.asarray(self.groups)
        if len(self.groups) != len(self.labels):
            raise ValueError(f"polarity pairs {self.name!r}: {len(self.groups)} groups for {len(self.labels)} pairs")
        if not len(self.affirmed) == len(self.negated) == len(self.labels) > 0:
            raise ValueError(f"polarity pairs {self.name!r}: need as many negated statements and labels as "
                             f"statements (got {len(self.affirmed)}, {len(self.negated)}, {len(self.labels)})")
        if not np.isin(self.labels, [0, 1]).all():
            raise ValueError(f"polarity pairs {self.name!r}: labels must be 0 or 1")

    def __len__(self) -> int:
        return len(self.affirmed)

    def subset(self, indices) -> PolarityPairs:
        """The pairs at ``indices``."""
        idx = [int(i) for i in indices]
        return PolarityPairs([self.affirmed[i] for i in idx], [self.negated[i] for i in idx], self.labels[idx],
                             self.name, self.negation, self.control, self.groups[idx])

    def sample(self, n: int, seed: int = 0) -> PolarityPairs:
        """A seeded random subset of ``n`` pairs (all pairs when ``n >= len``)."""
        if n >= len(self):
            return self
        return self.subset(np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False)))

    def texts(self, template: str | ContrastTemplate = "plain", tokenizer=None) -> list[list[list[str]]]:
        """Prompts nested ``(n, 2, 2)``: ``[i][0 = A, 1 = not-A][0 = no, 1 = yes]``.

        Args:
            template: A contrast template name (see :data:`veracity.data.CONTRAST_TEMPLATES`).
            tokenizer: Needed for chat templates.

        Returns:
            The nested list of prompt strings.
        """
        a_no, a_yes = contrast_pairs(self.affirmed, template, tokenizer)
        n_no, n_yes = contrast_pairs(self.negated, template, tokenizer)
        return [[[a_no[i], a_yes[i]], [n_no[i], n_yes[i]]] for i in range(len(self))]

    def flat_texts(self, template: str | ContrastTemplate = "plain", tokenizer=None) -> list[str]:
        """The ``4n`` prompts of :meth:`texts` in row-major order.

        Extract them and reshape: ``extract(model, flat, layers=[L])[:, 0].reshape(n, 2, 2, d_model)``.
        """
        return [text for pair in self.texts(template, tokenizer) for side in pair for text in side]


def polarity_from_datasets(affirmed: StatementDataset, negated: StatementDataset, name: str | None = None,
                           group_by: str = "auto") -> PolarityPairs:
    """Pair two aligned datasets row by row (row ``i`` of ``negated`` negates row ``i`` of ``affirmed``).

    Args:
        affirmed: e.g. Geometry-of-Truth ``cities.csv``.
        negated: e.g. ``neg_cities.csv``; same length, every label flipped.
        name: Name of the result (default: ``affirmed.name``).
        group_by: The entity column of ``affirmed`` that groups the pairs (see :meth:`StatementDataset.groups`).

    Returns:
        :class:`PolarityPairs` with ``labels = affirmed.labels`` and ``groups = affirmed.groups(group_by)``.

    Raises:
        ValueError: The datasets differ in length or some label does not flip.
    """
    if len(affirmed) != len(negated):
        raise ValueError(f"{affirmed.name} has {len(affirmed)} rows but {negated.name} has {len(negated)}: "
                         "polarity pairs need the negated dataset aligned row by row")
    same = np.flatnonzero(affirmed.labels == negated.labels)
    if len(same):
        raise ValueError(f"{negated.name} row {same[0] + 1} has the same label as {affirmed.name}: "
                         "a negation must flip every label (are the rows aligned?)")
    return PolarityPairs(list(affirmed.statements), list(negated.statements), affirmed.labels,
                         name or affirmed.name, groups=affirmed.groups(group_by))


POLARITY_KINDS = {
    "cities": (city_statements, neg_city_statements),
    "larger_than": (larger_than_statements, neg_larger_than_statements),
}
"""Built-in kinds: name to (affirmed builder, negated builder)."""


def polarity_pairs(kind: str = "cities", n: int | None = None, seed: int = 0, group_by: str = "auto") -> PolarityPairs:
    """Built-in polarity pairs (generated offline).

    Args:
        kind: ``"cities"`` ("... is in Y." / "... is not in Y.") or ``"larger_than"``
            ("X is larger than Y." / "X is not larger than Y.").
        n: Sample this many pairs (seeded); default all (800).
        seed: Seed for the sample.
        group_by: The entity column that groups the pairs (``"auto"``: the city, or the first number).

    Returns:
        :class:`PolarityPairs`.

    Example:
        >>> pairs = polarity_pairs("cities", n=4)
        >>> len(pairs.flat_texts())
        16
    """
    if kind not in POLARITY_KINDS:
        raise ValueError(f"unknown polarity kind {kind!r}: choose one of {', '.join(POLARITY_KINDS)}")
    build_a, build_not = POLARITY_KINDS[kind]
    pairs = polarity_from_datasets(build_a(), build_not(), name=kind, group_by=group_by)
    return pairs if n is None else pairs.sample(n, seed)


def negation_control(pairs: PolarityPairs, token: str = "blick") -> PolarityPairs:
    """Replace the negation word in every not-A statement by a meaningless ``token``.

    Args:
        pairs: Real polarity pairs (``negation`` must occur as a word in every negated statement).
        token: The nonsense word, e.g. ``"blick"``.

    Returns:
        A control :class:`PolarityPairs` (``control=True``, same labels of A).

    Raises:
        ValueError: A negated statement lacks the negation word.

    Example:
        >>> negation_control(polarity_pairs("cities", n=1)).negated[0]  # doctest: +SKIP
        'The city of ... is blick in ...'
    """
    if pairs.control:
        raise ValueError(f"{pairs.name} is already a control: build the control from real negations")
    negated = replace_negation(pairs.negated, token, pairs.negation)
    return PolarityPairs(list(pairs.affirmed), negated, pairs.labels, f"{pairs.name}_{token}_control", token, True,
                         pairs.groups)


def replace_negation(statements: list[str], token: str = "blick", negation: str = "not") -> list[str]:
    """Each negated statement with its (first) negation word replaced by a meaningless ``token``.

    Args:
        statements: Negated statements, each containing ``negation`` as a word.
        token: The nonsense word, e.g. ``"blick"``.
        negation: The word to replace.

    Returns:
        The control statements, in order.

    Raises:
        ValueError: A statement lacks the negation word.

    Example:
        >>> replace_negation(["The city of Oslo is not in Peru."])
        ['The city of Oslo is blick in Peru.']
    """
    word = f" {negation} "
    missing = [i for i, s in enumerate(statements) if word not in s]
    if missing:
        raise ValueError(f"negated statement {missing[0]} has no {negation!r} to replace: "
                         "build the control from real negations")
    return [s.replace(word, f" {token} ", 1) for s in statements]
