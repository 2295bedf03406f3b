"""Post-hoc calibrators fitted on a held-out calibration split of probe logits.

Both take logits (e.g. ``probe.decision_function(X_cal)``) and 0/1 labels, minimise the
negative log-likelihood with L-BFGS in float64, and return calibrated P(true):

- :class:`TemperatureScaling`: ``sigmoid(z / T)``, one parameter ``T > 0`` (fitted as ``log T``).
- :class:`PlattScaling`: ``sigmoid(a * z + b)`` (unregularised; Platt 1999 without target
  smoothing).

If the calibration split is perfectly separated by the logits the maximum-likelihood fit does
not exist (``T -> 0``, ``a -> inf``); the fit then stops at ``max_iter`` and logs a warning.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Real
from scipy.special import expit
from sklearn.base import BaseEstimator
from torch import Tensor

from veracity.probes.base import ArtifactMixin
from veracity.probes.optim import fit_logistic, lbfgs_minimize
from veracity.probes.registry import register
from veracity.probes.validation import Array, as_float_tensor, check_binary_labels

__all__ = ["PlattScaling", "TemperatureScaling"]

logger = logging.getLogger(__name__)


def _logits_and_labels(
    logits: Float[Array, " n"], y: Real[Array, " n"] | None = None
) -> tuple[Float[Tensor, " n"], Float[Tensor, " n"] | None]:
    z = as_float_tensor(logits, name="logits")
    if z.ndim != 1:
        raise ValueError(f"logits must have shape (n,), got {tuple(z.shape)}: pass one logit "
                         "per example (probe.decision_function(X))")
    return z, None if y is None else check_binary_labels(y, n=z.numel())


class _LogitCalibrator(ArtifactMixin, BaseEstimator):
    """Shared surface: hyperparameters, ``decision_function`` from :meth:`_calibrate`, and P(true)."""

    def __init__(self, max_iter: int = 200, tol: float = 1e-10):
        self.max_iter = max_iter
        self.tol = tol

    def decision_function(self, logits: Float[Array, " n"]) -> Float[np.ndarray, " n"]:
        """Calibrated logits (float64 numpy ``(n,)``)."""
        self._check_fitted()
        z, _ = _logits_and_labels(logits)
        return self._calibrate(z.numpy())

    def predict_proba(self, logits: Float[Array, " n"]) -> Float[np.ndarray, " n"]:
        """Calibrated P(true), the sigmoid of :meth:`decision_function` (float64 numpy ``(n,)``)."""
        return expit(self.decision_function(logits))

    def _calibrate(self, z: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        raise NotImplementedError

    def _check_restored(self) -> None:
        for name in self._json_attrs:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")


@register
class TemperatureScaling(_LogitCalibrator):
    """Divide logits by one temperature fitted on a calibration split.

    Args:
        max_iter: Maximum L-BFGS iterations.
        tol: Gradient tolerance.

    Example:
        >>> ts = TemperatureScaling().fit(probe.decision_function(X_cal), y_cal)
        >>> ts.predict_proba(probe.decision_function(X_test))  # calibrated P(true), (n,)
        >>> ts.temperature_
    """

    _json_attrs = ("temperature_",)

    def fit(self, logits: Float[Array, " n"], y: Real[Array, " n"]) -> TemperatureScaling:
        """Fit ``T`` by minimising the NLL of ``sigmoid(logits / T)``.

        Args:
            logits: Probe logits, shape ``(n,)``.
            y: 0/1 labels, both classes present.

        Returns:
            ``self``.
        """
        z, labels = _logits_and_labels(logits, y)
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        n_iter = lbfgs_minimize(
            lambda: F.binary_cross_entropy_with_logits(z * torch.exp(-log_t), labels),
            [log_t], max_iter=self.max_iter, tol=self.tol,
        )
        self.temperature_ = float(torch.exp(log_t.detach()))
        logger.info("TemperatureScaling: T=%.4g after %d iterations", self.temperature_, n_iter)
        return self

    def _calibrate(self, z: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        return z / self.temperature_

    def _check_restored(self) -> None:
        super()._check_restored()
        if self.temperature_ <= 0:
            raise ValueError(f"temperature_ must be positive, got {self.temperature_!r}")


@register
class PlattScaling(_LogitCalibrator):
    """Fit ``sigmoid(a * logit + b)`` on a calibration split.

    Args:
        max_iter: Maximum L-BFGS iterations.
        tol: Gradient tolerance.

    Example:
        >>> platt = PlattScaling().fit(probe.decision_function(X_cal), y_cal)
        >>> platt.predict_proba(probe.decision_function(X_test))
        >>> platt.a_, platt.b_
    """

    _json_attrs = ("a_", "b_")

    def fit(self, logits: Float[Array, " n"], y: Real[Array, " n"]) -> PlattScaling:
        """Fit ``a`` and ``b`` by maximum likelihood.

        Args:
            logits: Probe logits, shape ``(n,)``.
            y: 0/1 labels, both classes present.

        Returns:
            ``self``.
        """
        z, labels = _logits_and_labels(logits, y)
        w, b, n_iter = fit_logistic(z[:, None], labels, l2=0.0, max_iter=self.max_iter,
                                    tol=self.tol)
        self.a_, self.b_ = float(w[0]), float(b)
        logger.info("PlattScaling: a=%.4g b=%.4g after %d iterations", self.a_, self.b_, n_iter)
        return self

    def _calibrate(self, z: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        return self.a_ * z + self.b_
