"""Supervised logistic-regression truth probe (torch, checked against scikit-learn).

Objective (scikit-learn's): ``C * sum_i logloss_i + 0.5 * ||w||^2``, intercept unpenalised,
on features standardised with the training split's mean and standard deviation.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from jaxtyping import Float, Real
from torch import Tensor

from veracity.constraints import Interval
from veracity.probes.base import BaseProbe
from veracity.probes.optim import fit_logistic, fit_logistic_pieces
from veracity.probes.preprocessing import fit_standardizer
from veracity.probes.registry import register
from veracity.probes.streaming import binary_labels, is_view, one_layer, pieces_of, streaming_standardizer
from veracity.probes.validation import Array, to_numpy

__all__ = ["LogisticProbe"]

logger = logging.getLogger(__name__)


@register
class LogisticProbe(BaseProbe):
    """L2-regularised logistic regression, fitted with full-batch L-BFGS in float64.

    ``coef_`` and ``intercept_`` live in the standardised space (they equal scikit-learn's
    ``LogisticRegression(C=C)`` fitted on ``StandardScaler``-transformed data); ``direction_``
    is ``coef_ / scale_`` normalised, i.e. the raw-space normal of the decision boundary.

    Args:
        C: Inverse regularisation strength (as in scikit-learn).
        standardize: Standardise features with training mean and std before fitting.
        max_iter: Maximum L-BFGS iterations.
        tol: Gradient tolerance of the (mean-scaled) objective; the default is scikit-learn's
            (its ``lbfgs`` stops on the same quantity), pass ``1e-8`` for the optimum to float precision.
        device: Where L-BFGS runs: ``None`` (the GPU when torch sees one, else the CPU), ``"cpu"``
            or ``"cuda"``. Activations go there one piece at a time; the fit is float64 either way.

    Example:
        >>> probe = LogisticProbe(C=0.1).fit(acts, labels)  # acts: (n, d_model), labels: 0/1
        >>> probe.predict_true(test_acts)  # P(true), shape (n,)
        >>> probe.direction_  # unit vector toward "true"
    """

    _tensor_attrs = BaseProbe._tensor_attrs + ("coef_", "intercept_", "mean_", "scale_")
    _json_attrs = BaseProbe._json_attrs + ("n_iter_",)
    _hyperparameter_constraints = {"C": [Interval(float, 0, closed="neither")], "max_iter": [Interval(int, 1)],
                              "tol": [Interval(float, 0, closed="neither")]}

    def __init__(self, C: float = 1.0, standardize: bool = True, max_iter: int = 1000,
                 tol: float = 1e-4, device: str | None = None):
        self.C = C
        self.device = device
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: Float[Array, "n d_model"], y: Real[Array, " n"],
            sample_weight: Real[Array, " n"] | None = None) -> LogisticProbe:
        """Fit on activations ``X: (n, d_model)`` and labels ``y`` (1 = true, 0 = false).

        Args:
            X: Training activations.
            y: 0/1 labels, both classes present.
            sample_weight: Each example's weight, as scikit-learn's: a weight of 2 counts the example
                twice, in the loss and in the standardisation's mean and spread; default 1 each.

        Returns:
            ``self``.
        """
        self._check_params()
        if is_view(X):
            if sample_weight is not None:
                raise ValueError("sample_weight is not supported on an on-disk view: load the rows into memory "
                                 "(view.load()) or fit without weights")
            return self._fit_view(X, y)
        x, labels = self._check_fit_input(X, y)
        weight = None if sample_weight is None else _check_weights(sample_weight, len(labels))
        if self.standardize:
            self.mean_, self.scale_ = fit_standardizer(x, weight)
        else:
            self.mean_, self.scale_ = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
        self.mean_, self.scale_ = self.mean_.double(), self.scale_.double()
        z = (x - self.mean_) / self.scale_
        l2 = 1.0 / (self.C * x.shape[0])
        self.coef_, self.intercept_, self.n_iter_ = fit_logistic(
            z, labels, l2=l2, max_iter=self.max_iter, tol=self.tol, device=self.device, sample_weight=weight
        )
        logger.info("LogisticProbe fit: n=%d d_model=%d in %d L-BFGS iterations",
                    x.shape[0], x.shape[1], self.n_iter_)
        self._finish_fit(self.coef_ / self.scale_)
        return self

    def _fit_view(self, view, y) -> LogisticProbe:
        """The same fit, streamed over the chunks of an on-disk view (:mod:`veracity.probes.streaming`)."""
        n, d = one_layer(view)
        labels, self.classes_ = binary_labels(y, n)
        if self.standardize:
            mean, scale = streaming_standardizer(pieces_of(view, labels), d)
        else:
            mean, scale = torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)
        self.mean_, self.scale_ = mean, scale
        self.coef_, self.intercept_, self.n_iter_ = fit_logistic_pieces(
            pieces_of(view, labels, lambda x: (x - mean) / scale), d, n, l2=1.0 / (self.C * n),
            max_iter=self.max_iter, tol=self.tol, device=self.device)
        logger.info("LogisticProbe fit from %s: n=%d d_model=%d in %d L-BFGS iterations", view, n, d, self.n_iter_)
        self._finish_fit(self.coef_ / self.scale_)
        return self

    def decision_function(self, X: Float[Array, "n d_model"]) -> Float[np.ndarray, " n"]:
        """Logit of P(true) for activations ``X: (n, d_model)``; float64 numpy ``(n,)``."""
        return to_numpy(self._logits(self._check_X(X)))

    def _logits(self, x: Tensor) -> Tensor:
        return ((x - self.mean_) / self.scale_) @ self.coef_ + self.intercept_


def _check_weights(sample_weight, n: int) -> Tensor:
    """``sample_weight`` as float64, one finite non-negative weight per example, not all zero."""
    try:
        weight = (to_numpy(sample_weight) if isinstance(sample_weight, Tensor)
                  else np.asarray(sample_weight, dtype=np.float64))
    except (TypeError, ValueError):
        weight = np.full(1, np.nan)
    if weight.shape != (n,) or not np.isfinite(weight).all() or (weight < 0).any() or weight.sum() <= 0:
        raise ValueError(f"sample_weight must hold one finite, non-negative weight per example ({n}), not all zero; "
                         f"got shape {weight.shape}")
    return torch.from_numpy(weight)
