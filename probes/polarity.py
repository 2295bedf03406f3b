"""Polarity-aware CCS: one probe for a statement and its negation, plus two polarity metrics.

Input ``X: (n, 2, 2, d_model)`` indexed ``[pair, statement, completion, :]`` where statement 0 is
A and 1 is not-A, completion 0 is "no" and 1 is "yes". Write ``pX0`` / ``pX1`` for the probe's
output on the no / yes completion of statement X. The same probe serves both statements.

Normalisation (training statistics only) is per cell by default: each of the four cells
A-no, A-yes, not-A-no, not-A-yes gets its own mean (and scale). With statistics pooled over A and
not-A (``per_cell=False``, plain CCS's per-completion normalisation applied to all 2n pairs), the
difference "not" makes to each completion survives normalisation, and the loss below has a
degenerate zero: "A is false and not-A is true" for every pair, read off the word "not" alone.
We met that solution on SmolLM2-135M (a constant prediction, accuracy = the class balance); per-cell
statistics remove it.

Training loss per restart (``m = n`` statement pairs, ``lambda = polarity_weight``)::

    L = CCS loss over all 2n contrast pairs (A's and not-A's)
        + lambda * mean_n 0.5 * [(pA1 - pnA0)^2 + (pA0 - pnA1)^2]

The second term asks "A is true" to agree with "not-A is false" and vice versa.
P(A true) = ``0.5 * (P_A + 1 - P_notA)`` with ``P_X = 0.5 * (pX1 + 1 - pX0)``; labels ``y``
are for A (1 = A is true).
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float, Real
from torch import Tensor

from veracity.constraints import Interval
from veracity.probes.ccs import CCS, PairLoss, ccs_loss
from veracity.probes.registry import register
from veracity.probes.validation import Array

__all__ = ["PolarityAwareCCS", "contradiction_index", "polar_consistency", "polarity_loss"]


def polar_consistency(
    pA0: Float[Array, " n"], pA1: Float[Array, " n"], pnA0: Float[Array, " n"],
    pnA1: Float[Array, " n"],
) -> float:
    """Signed polar-consistency error; 0 is ideal.

    ``mean(0.5 * [(pA1 - pnA0)^2 + (pA0 - pnA1)^2] * sign(pA1 - pnA1) * sign(pnA0 - pA0))``.
    The sign factor is +1 when A and not-A get opposite verdicts and -1 when the probe
    contradicts itself.

    Args:
        pA0: Probe output on A's "no" completion, shape ``(n,)``; likewise the others.
        pA1: ... on A's "yes" completion.
        pnA0: ... on not-A's "no" completion.
        pnA1: ... on not-A's "yes" completion.

    Returns:
        The mean over pairs.

    Example:
        >>> round(polar_consistency([0.1], [0.9], [0.8], [0.2]), 4)  # 0.5*(0.01+0.01)*1*1
        0.01
    """
    a0, a1, n0, n1 = (np.asarray(p, dtype=np.float64) for p in (pA0, pA1, pnA0, pnA1))
    magnitude = 0.5 * ((a1 - n0) ** 2 + (a0 - n1) ** 2)
    return float(np.mean(magnitude * np.sign(a1 - n1) * np.sign(n0 - a0)))


def contradiction_index(
    pA0: Float[Array, " n"], pA1: Float[Array, " n"], pnA0: Float[Array, " n"],
    pnA1: Float[Array, " n"],
) -> float:
    """``mean(pA1 * pnA1 + pA0 * pnA0)``: high when A and not-A get the same verdict.

    Args:
        pA0: Probe output on A's "no" completion, shape ``(n,)``; likewise the others.
        pA1: ... on A's "yes" completion.
        pnA0: ... on not-A's "no" completion.
        pnA1: ... on not-A's "yes" completion.

    Returns:
        The mean over pairs (0 for perfectly opposite, confident verdicts; up to 2).

    Example:
        >>> round(contradiction_index([0.1], [0.9], [0.9], [0.1]), 4)
        0.18
    """
    a0, a1, n0, n1 = (np.asarray(p, dtype=np.float64) for p in (pA0, pA1, pnA0, pnA1))
    return float(np.mean(a1 * n1 + a0 * n0))


def polarity_loss(
    probs: Float[Tensor, "m 2 restart"], n: int, weight: float
) -> Float[Tensor, " restart"]:
    """CCS loss on all pairs plus ``weight`` times the polarity term (see module docstring).

    Args:
        probs: Side probabilities of the ``2n`` pairs: rows ``:n`` are A, rows ``n:`` not-A.
        n: Number of statement pairs.
        weight: Polarity weight ``lambda``.

    Returns:
        One loss per restart.

    Example:
        >>> polarity_loss(torch.tensor([[[0.0], [1.0]], [[1.0], [0.0]]]), n=1, weight=1.0).tolist()
        [0.0]
    """
    a, not_a = probs[:n], probs[n:]
    polar = 0.5 * ((a[:, 1] - not_a[:, 0]) ** 2 + (a[:, 0] - not_a[:, 1]) ** 2)
    return ccs_loss(probs) + weight * polar.mean(dim=0)


@register
class PolarityAwareCCS(CCS):
    """CCS over statement / negation pairs with a polarity term (see the module docstring).

    Args:
        polarity_weight: ``lambda``, the weight of the polarity term (0 gives plain CCS on
            the 2n pairs).
        per_cell: Normalise each of the four cells (A / not-A x no / yes) with its own training
            statistics (default); ``False`` pools A and not-A per completion, as plain CCS would.
        n_restarts, n_epochs, lr, weight_decay, optimizer, normalize, seed, selection: As in
            :class:`veracity.probes.ccs.CCS`.

    Example:
        >>> probe = PolarityAwareCCS().fit(X)  # X: (n, 2 [A, not-A], 2 [no, yes], d_model)
        >>> probe.predict_true(X)  # P(A is true), shape (n,)
        >>> probe.polarity_report(X, y)  # polar_consistency, contradiction_index, accuracy
    """

    _hyperparameter_constraints = {"polarity_weight": [Interval(float, 0)]}

    _input_trailing = (2, 2)

    def __init__(self, polarity_weight: float = 1.0, per_cell: bool = True, n_restarts: int = 10,
                 n_epochs: int = 1000, lr: float | None = None, weight_decay: float = 0.01,
                 optimizer: str = "adam", normalize: str = "meanvar", seed: int = 0,
                 selection: str = "consensus"):
        super().__init__(n_restarts=n_restarts, n_epochs=n_epochs, lr=lr,
                         weight_decay=weight_decay, optimizer=optimizer, normalize=normalize,
                         seed=seed, selection=selection)
        self.polarity_weight = polarity_weight
        self.per_cell = per_cell

    def fit(
        self, X: Float[Array, "n 2 2 d_model"], y: Real[Array, " n"] | None = None
    ) -> PolarityAwareCCS:
        """Fit on ``X: (n, 2, 2, d_model)``; labels for A, if given, only fix the sign.

        Args:
            X: ``[pair, A / not-A, no / yes, d_model]`` activations.
            y: Optional 0/1 labels, 1 = statement A is true.

        Returns:
            ``self``.
        """
        return super().fit(X, y)

    def predict_side_proba(self, X: Float[Array, "n 2 2 d_model"]) -> Float[np.ndarray, "n 2 2"]:
        """Probe outputs ``[[pA0, pA1], [pnA0, pnA1]]`` per pair: float64 ``(n, 2, 2)``."""
        return super().predict_side_proba(X)

    def polarity_report(
        self, X: Float[Array, "n 2 2 d_model"], y: Real[Array, " n"] | None = None
    ) -> dict[str, float]:
        """Polar consistency and contradiction index on ``X`` (and accuracy if ``y`` is given).

        Args:
            X: ``(n, 2, 2, d_model)`` activations.
            y: Optional 0/1 labels for A.

        Returns:
            ``{"polar_consistency", "contradiction_index"[, "accuracy"]}``.
        """
        p = self.predict_side_proba(X)
        args = (p[:, 0, 0], p[:, 0, 1], p[:, 1, 0], p[:, 1, 1])
        report = {"polar_consistency": polar_consistency(*args),
                  "contradiction_index": contradiction_index(*args)}
        if y is not None:
            report["accuracy"] = self.score(X, y)
        return report

    def _as_pairs(self, x: Float[Tensor, "n 2 2 d_model"]) -> Float[Tensor, "m 2 d_model"]:
        return torch.cat([x[:, 0], x[:, 1]])

    def _normalizer_cells(self, x: Float[Tensor, "n 2 2 d_model"]) -> Tensor:
        return x if self.per_cell else self._as_pairs(x)

    def _loss_fn(self, n: int) -> PairLoss:
        weight = float(self.polarity_weight)
        return lambda probs: polarity_loss(probs, n=n, weight=weight)

    def _truth(self, p: Float[Tensor, "n 2 2"]) -> Float[Tensor, " n"]:
        p_a = 0.5 * (p[:, 0, 1] + 1 - p[:, 0, 0])
        p_not_a = 0.5 * (p[:, 1, 1] + 1 - p[:, 1, 0])
        return 0.5 * (p_a + 1 - p_not_a)
