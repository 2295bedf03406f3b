"""P(IK) value head (Kadavath et al. 2022): does the model know the answer to this question?

Fitted on activations of a question prompt against the fraction of k sampled answers that were
correct (soft labels in [0, 1]; hard 0/1 labels also work), with binary cross-entropy::

    mean_i BCE(f(x_i), y_i) + 0.5 * weight_decay * ||weights||^2   (biases unpenalised)

``f`` is linear (``hidden=None``; solved exactly with L-BFGS, the same objective as
:class:`veracity.probes.logistic.LogisticProbe` with ``C = 1 / (n * weight_decay)``) or a one-hidden-layer
GELU MLP trained with full-batch Adam. Features are standardised with training statistics.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Real
from torch import Tensor

from veracity.constraints import Interval
from veracity.probes.base import BaseProbe
from veracity.probes.optim import fit_device, fit_logistic_pieces
from veracity.probes.preprocessing import fit_standardizer
from veracity.probes.registry import register
from veracity.probes.streaming import is_view, one_layer, pieces_of, streaming_standardizer
from veracity.probes.validation import Array, check_activations, check_soft_labels, to_numpy

__all__ = ["PIKHead"]

logger = logging.getLogger(__name__)


@register
class PIKHead(BaseProbe):
    """P(IK) head: probability that the model answers a question correctly.

    ``direction_`` is ``coef_ / scale_`` for the linear head; for the MLP it is the mean over
    training inputs of the gradient of the logit with respect to the raw activation. Either way
    it points toward "answers correctly".

    Args:
        hidden: ``None`` for a linear head, else the width of the MLP's hidden layer.
        weight_decay: L2 penalty on the weights (relative to the mean loss).
        n_epochs: Adam steps for the MLP (the linear head uses up to 1000 L-BFGS iterations).
        lr: Adam learning rate for the MLP.
        seed: Seeds the MLP initialisation.
        standardize: Standardise features with the training mean and std.
        device: Where the optimiser runs: ``None`` (the GPU when torch sees one, else the CPU),
            ``"cpu"`` or ``"cuda"``; activations go there one piece at a time.

    Example:
        >>> head = PIKHead(hidden=64).fit(question_acts, frac_correct)  # frac in [0, 1]
        >>> head.predict_true(new_question_acts)  # P(IK), shape (n,)
        >>> head.score(new_question_acts, frac_correct_new)  # accuracy vs (frac > 0.5)
    """

    _tensor_attrs = BaseProbe._tensor_attrs + (
        "coef_", "intercept_", "mean_", "scale_", "hidden_weight_", "hidden_bias_")
    _hyperparameter_constraints = {"weight_decay": [Interval(float, 0)], "n_epochs": [Interval(int, 1)],
                              "lr": [Interval(float, 0, closed="neither")]}

    def __init__(self, hidden: int | None = None, weight_decay: float = 1e-3, n_epochs: int = 500,
                 lr: float = 1e-2, seed: int = 0, standardize: bool = True, device: str | None = None):
        self.hidden = hidden
        self.device = device
        self.weight_decay = weight_decay
        self.n_epochs = n_epochs
        self.lr = lr
        self.seed = seed
        self.standardize = standardize

    def fit(self, X: Float[Array, "n d_model"], y: Real[Array, " n"]) -> PIKHead:
        """Fit on question activations ``X: (n, d_model)`` and fractions correct ``y``.

        Args:
            X: Activations of the question prompts.
            y: Fraction of sampled answers that were correct (or 0/1), in [0, 1].

        Returns:
            ``self``.
        """
        if self.hidden is not None and int(self.hidden) < 1:
            raise ValueError(f"hidden must be None (linear) or >= 1, got {self.hidden}")
        self._check_params()
        if is_view(X):  # activations on disk: every pass below streams over the chunks
            n, d = one_layer(X)
            target = check_soft_labels(y, n=n)
            raw = pieces_of(X, target)
            identity = (torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64))
            self.mean_, self.scale_ = streaming_standardizer(raw, d) if self.standardize else identity
        else:
            x = check_activations(X)
            target = check_soft_labels(y, n=x.shape[0])
            (n, d), raw = x.shape, (lambda: iter([(x, target)]))
            identity = (torch.zeros(d, dtype=x.dtype), torch.ones(d, dtype=x.dtype))
            self.mean_, self.scale_ = fit_standardizer(x) if self.standardize else identity
        mean, scale = self.mean_, self.scale_

        def pieces():
            return (((x - mean) / scale, t) for x, t in raw())

        if self.hidden is None:
            self.coef_, self.intercept_, _ = fit_logistic_pieces(pieces, d, n, l2=self.weight_decay,
                                                                  device=self.device)
            self.hidden_weight_ = torch.empty(0, d, dtype=torch.float64)
            self.hidden_bias_ = torch.empty(0, dtype=torch.float64)
        else:
            self._fit_mlp(pieces, n, d, target)
        logger.info("PIKHead fit: n=%d d_model=%d hidden=%s", n, d, self.hidden)
        self._finish_fit(self._mean_input_gradient(pieces, n) / self.scale_)
        return self

    def decision_function(self, X: Float[Array, "n d_model"]) -> Float[np.ndarray, " n"]:
        """Logit of P(IK) for activations ``X: (n, d_model)``; float64 numpy ``(n,)``."""
        x = self._check_X(X)
        return to_numpy(self._logits((x - self.mean_) / self.scale_))

    def score(
        self, X: Float[Array, "n d_model"], y: Real[Array, " n"], sample_weight: None = None
    ) -> float:
        """Accuracy of :meth:`predict` against ``y > 0.5`` (soft labels are binarised)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported: pass it as None")
        self._check_fitted()
        target = (check_soft_labels(y, n=len(X), require_both=False) > 0.5).numpy()
        return float(np.mean(self.predict(X) == target))

    def _logits(self, z: Float[Tensor, "n d_model"]) -> Float[Tensor, " n"]:
        if self.hidden_weight_.shape[0] == 0:
            return z @ self.coef_ + self.intercept_
        h = F.gelu(z @ self.hidden_weight_.T + self.hidden_bias_)
        return h @ self.coef_ + self.intercept_

    def _fit_mlp(self, pieces, n: int, d: int, target: Float[Tensor, " n"]) -> None:
        """Full-batch Adam on the penalised BCE (gradients summed piece by piece); stores float64 weights."""
        h, device = int(self.hidden), fit_device(self.device)
        gen = torch.Generator().manual_seed(int(self.seed))  # initialised on the CPU: the same start anywhere
        w1 = (torch.randn(h, d, generator=gen) / math.sqrt(d)).to(device).requires_grad_(True)
        b1 = torch.zeros(h, device=device, requires_grad=True)
        w2 = (torch.randn(h, generator=gen) / math.sqrt(h)).to(device).requires_grad_(True)
        rate = target.mean().clamp(1e-3, 1 - 1e-3)
        b2 = torch.log(rate / (1 - rate)).float().to(device).requires_grad_(True)
        opt = torch.optim.Adam([w1, b1, w2, b2], lr=self.lr)
        for _ in range(int(self.n_epochs)):
            opt.zero_grad()
            for z, t in pieces():
                logits = F.gelu(z.to(device, torch.float32) @ w1.T + b1) @ w2 + b2
                (F.binary_cross_entropy_with_logits(logits, t.to(device, torch.float32), reduction="sum") / n
                 ).backward()
            (0.5 * self.weight_decay * ((w1 * w1).sum() + (w2 * w2).sum())).backward()
            opt.step()
        self.hidden_weight_, self.hidden_bias_ = w1.detach().double().cpu(), b1.detach().double().cpu()
        self.coef_, self.intercept_ = w2.detach().double().cpu(), b2.detach().double().cpu()

    def _mean_input_gradient(self, pieces, n: int) -> Float[Tensor, " d_model"]:
        """Mean gradient of the logit with respect to the standardised input."""
        total = None
        for z, _ in pieces():
            z = z.detach().clone().requires_grad_(True)
            self._logits(z).sum().backward()
            total = z.grad.sum(dim=0) if total is None else total + z.grad.sum(dim=0)
        return total / n

