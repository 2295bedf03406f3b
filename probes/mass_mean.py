"""Mass-mean probe (Marks & Tegmark 2023): the difference of class means, optionally whitened.

Direction ``theta = mean(true) - mean(false)``. With ``iid=True`` it is ``Sigma^-1 theta`` where
``Sigma`` is the shared within-class covariance plus a small ridge (the LDA direction).

Probability: the Gaussian (LDA) posterior along the projection ``s = theta . x``:
``logit = (m1 - m0) / var * (s - (m0 + m1) / 2) + log(n1 / n0)``, where ``m0, m1`` are the class
means of ``s`` and ``var`` its pooled within-class variance, all from the training split.
No standardisation: the mass-mean direction is defined in raw activation space.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from jaxtyping import Float, Real
from torch import Tensor

from veracity.constraints import Interval
from veracity.probes.base import BaseProbe
from veracity.probes.directions import mean_difference
from veracity.probes.registry import register
from veracity.probes.streaming import binary_labels, is_view, one_layer, pieces_of
from veracity.probes.validation import Array, to_numpy

__all__ = ["MassMeanProbe", "within_class_covariance"]

logger = logging.getLogger(__name__)


def within_class_covariance(
    x: Float[Tensor, "n d_model"], y: Float[Tensor, " n"]
) -> Float[Tensor, "d_model d_model"]:
    """Pooled within-class covariance: class-centred scatter summed over classes, divided by n.

    Args:
        x: Activations.
        y: 0/1 labels.

    Returns:
        The ``(d_model, d_model)`` covariance (what ``LinearDiscriminantAnalysis`` calls
        ``covariance_`` with empirical priors).

    Example:
        >>> within_class_covariance(torch.randn(20, 3), torch.arange(20.0) % 2).shape
        torch.Size([3, 3])
    """
    centred = torch.cat([x[y == c] - x[y == c].mean(dim=0) for c in (0.0, 1.0)])
    return centred.T @ centred / x.shape[0]


@register
class MassMeanProbe(BaseProbe):
    """Difference-of-means probe with an LDA-style calibrated probability.

    ``coef_`` and ``intercept_`` give the logit on raw activations: ``x @ coef_ + intercept_``.

    Args:
        iid: Apply the covariance correction (``Sigma^-1 theta``), as in Marks & Tegmark's
            "iid" evaluation; the result is the LDA direction.
        ridge: Added to ``Sigma`` as ``ridge * trace(Sigma) / d_model * I`` (keeps the solve
            well-posed when ``d_model > n``). Only used when ``iid=True``.

    Example:
        >>> probe = MassMeanProbe(iid=True).fit(acts, labels)
        >>> probe.predict_true(test_acts)  # shape (n,)
        >>> probe.direction_  # unit vector toward "true"
    """

    _tensor_attrs = BaseProbe._tensor_attrs + ("coef_", "intercept_")
    _hyperparameter_constraints = {"ridge": [Interval(float, 0)]}

    def __init__(self, iid: bool = False, ridge: float = 1e-3):
        self.iid = iid
        self.ridge = ridge

    def fit(self, X: Float[Array, "n d_model"], y: Real[Array, " n"]) -> MassMeanProbe:
        """Fit on activations ``X: (n, d_model)`` and 0/1 labels ``y`` (1 = true).

        Args:
            X: Training activations.
            y: 0/1 labels, both classes present.

        Returns:
            ``self``.
        """
        self._check_params()
        if is_view(X):
            return self._fit_view(X, y)
        x, labels = self._check_fit_input(X, y)
        theta = mean_difference(x[labels == 1], x[labels == 0])
        if self.iid:
            theta = self._solve(within_class_covariance(x, labels), theta)
        self.coef_, self.intercept_ = _gaussian_posterior(x @ theta, labels, theta)
        logger.info("MassMeanProbe fit: n=%d d_model=%d iid=%s", x.shape[0], x.shape[1], self.iid)
        self._finish_fit(theta)
        return self

    def _solve(self, cov: Tensor, theta: Tensor) -> Tensor:
        d = cov.shape[0]
        return torch.linalg.solve(cov + self.ridge * torch.trace(cov) / d * torch.eye(d, dtype=cov.dtype), theta)

    def _fit_view(self, view, y) -> MassMeanProbe:
        """The same fit from an on-disk view: class sums, then (iid) the pooled scatter, then projections."""
        n, d = one_layer(view)
        labels, self.classes_ = binary_labels(y, n)
        pieces = pieces_of(view, labels)
        sums, counts = torch.zeros(2, d, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
        for x, part in pieces():
            for c in (0, 1):
                sums[c] += x[part == c].sum(dim=0)
                counts[c] += (part == c).sum()
        means = sums / counts[:, None]
        theta = means[1] - means[0]
        if self.iid:
            scatter = torch.zeros(d, d, dtype=torch.float64)
            for x, part in pieces():
                centred = x - means[part.long()]
                scatter += centred.T @ centred
            theta = self._solve(scatter / n, theta)
        projections = torch.cat([x @ theta for x, _ in pieces()])
        self.coef_, self.intercept_ = _gaussian_posterior(projections, labels, theta)
        logger.info("MassMeanProbe fit from %s: n=%d d_model=%d iid=%s", view, n, d, self.iid)
        self._finish_fit(theta)
        return self

    def decision_function(self, X: Float[Array, "n d_model"]) -> Float[np.ndarray, " n"]:
        """Logit of P(true) for activations ``X: (n, d_model)``; float64 numpy ``(n,)``."""
        x = self._check_X(X)
        return to_numpy(x @ self.coef_ + self.intercept_)


def _gaussian_posterior(
    s: Float[Tensor, " n"], y: Float[Tensor, " n"], theta: Float[Tensor, " d_model"]
) -> tuple[Float[Tensor, " d_model"], Float[Tensor, ""]]:
    """Turn projections into the logit weights of a two-Gaussian, shared-variance posterior."""
    s1, s0 = s[y == 1], s[y == 0]
    m1, m0 = s1.mean(), s0.mean()
    var = (((s1 - m1) ** 2).sum() + ((s0 - m0) ** 2).sum()) / s.numel()
    var = torch.clamp(var, min=torch.finfo(s.dtype).tiny)
    slope = (m1 - m0) / var
    intercept = -slope * (m0 + m1) / 2 + math.log(s1.numel() / s0.numel())
    return slope * theta, intercept
