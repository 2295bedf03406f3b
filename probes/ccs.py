"""Contrast-Consistent Search (Burns et al. 2022), with all random restarts in one batch.

Input: contrast pairs ``X: (n, 2, d_model)``, index 0 = the "false/no" completion, index 1 = the
"true/yes" completion. Each side is normalised with its own training statistics (see
:mod:`veracity.probes.preprocessing`). The probe is ``p = sigmoid(w . z + b)`` on a normalised side ``z``;
the loss per pair is ``min(p0, p1)^2`` (confidence) ``+ (p0 - (1 - p1))^2`` (consistency),
averaged over pairs. P(true) of a pair is ``0.5 * (p1 + 1 - p0)``.

Restarts: restart ``r`` starts from ``w ~ N(0, I / d_model)`` drawn from a ``torch.Generator``
seeded with ``seed + r``, ``b = 0``. All restarts train together as one ``(restarts, d_model)``
weight matrix; the loss is summed over restarts, which leaves each restart's gradient unchanged,
so with Adam(W) every restart follows exactly the path it would follow alone (a plain-loop
reference checks this). With L-BFGS the restarts share one quasi-Newton history and line search,
so paths differ from one-at-a-time runs, though each still descends its own loss.

Which restart is kept (``selection``): ``"consensus"`` (default) keeps the restart whose training
P(true) agrees best with the other restarts' (highest mean absolute correlation: the solution most
restarts find); ``"loss"`` keeps the lowest final loss, as Burns et al. did. On the embedded model's
Geometry-of-Truth cities negation pairs most restarts find the truth direction while one or two find
a direction of lower loss that reads at chance: at layers 15 and 21 (5 seeds each) the lowest loss
kept a chance-level restart (0.50-0.56 held out) in 6 of 10 fits, consensus in none (0.75-0.79);
at layer 9 every restart is at chance (tests/acceptance/probes/test_ccs_burns_parity.py; docs/results.md).

Measured with ``python -m benchmarks.ccs_speed`` (2-core CPU shared with other jobs, 1 torch
thread; n=400 pairs, 10 restarts x 1000 Adam epochs): batched 0.65 s vs loop 6.4 s at
d_model=64 (9.8x), 1.1 s vs 6.9 s at d_model=576 (6.2x), with the same best loss; a run under
heavier load gave 6.4x and 6.6x.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
from einops import einsum
from jaxtyping import Float, Real
from scipy.special import logit
from torch import Tensor

from veracity.constraints import Interval, Options
from veracity.probes.base import BaseProbe
from veracity.probes.optim import lbfgs_minimize
from veracity.probes.preprocessing import NORMALIZE_MODES, fit_pair_normalizer, raw_pair_direction
from veracity.probes.registry import register
from veracity.probes.validation import Array, check_activations, check_binary_labels, to_numpy

__all__ = ["CCS", "ccs_loss", "consensus_restart", "init_restarts", "train_restarts"]

logger = logging.getLogger(__name__)

PairLoss = Callable[[Float[Tensor, "m 2 restart"]], Float[Tensor, " restart"]]


def ccs_loss(probs: Float[Tensor, "m 2 restart"]) -> Float[Tensor, " restart"]:
    """The CCS loss of each restart: mean over pairs of confidence + consistency.

    Args:
        probs: Probe outputs on the no (index 0) and yes (index 1) side of each pair.

    Returns:
        One loss per restart.

    Example:
        >>> ccs_loss(torch.tensor([[[0.0], [1.0]]])).tolist()
        [0.0]
    """
    p0, p1 = probs[:, 0], probs[:, 1]
    confidence = torch.minimum(p0, p1).pow(2).mean(dim=0)
    consistency = (p0 - (1 - p1)).pow(2).mean(dim=0)
    return confidence + consistency


def _ccs_loss_grad(probs: Float[Tensor, "m 2 restart"]) -> Float[Tensor, "m 2 restart"]:
    """The gradient of ``ccs_loss(probs).sum()`` with respect to ``probs``, written out.

    The same arithmetic, in the same order, as autograd's backward of :func:`ccs_loss` (mean: the
    incoming 1 divided by ``m``; ``x.pow(2)``: times ``2 x``; ``minimum``: to the smaller side, half
    to each at a tie), so it is bit-identical to it (tested) without building a graph at every step.
    """
    p0, p1 = probs[:, 0], probs[:, 1]
    inv_m = torch.ones((), dtype=probs.dtype) / probs.shape[0]
    smaller = torch.minimum(p0, p1)
    g_small = inv_m * (2 * smaller)
    g_consistency = inv_m * (2 * (p0 - (1 - p1)))
    tie = p0 == p1
    g0 = torch.where(tie, g_small / 2, g_small).masked_fill_(p0 > p1, 0)
    g1 = torch.where(tie, g_small / 2, g_small).masked_fill_(p1 > p0, 0)
    return torch.stack([g0 + g_consistency, g1 + g_consistency], dim=1)


ccs_loss.grad = _ccs_loss_grad


def init_restarts(
    d_model: int, n_restarts: int, seed: int
) -> tuple[Float[Tensor, "restart d_model"], Float[Tensor, " restart"]]:
    """Initial weights: restart ``r`` draws ``N(0, I / d_model)`` from generator seed ``seed + r``.

    Args:
        d_model: Width of the activations.
        n_restarts: Number of restarts.
        seed: Seed of restart 0.

    Returns:
        ``(weights, intercepts)``, float32, intercepts zero.

    Example:
        >>> init_restarts(8, 3, seed=0)[0].shape
        torch.Size([3, 8])
    """
    rows = [
        torch.randn(d_model, generator=torch.Generator().manual_seed(seed + r))
        for r in range(n_restarts)
    ]
    return torch.stack(rows) / math.sqrt(d_model), torch.zeros(n_restarts)


def train_restarts(
    z: Float[Tensor, "m 2 d_model"], w0: Float[Tensor, "restart d_model"],
    b0: Float[Tensor, " restart"], loss_fn: PairLoss, optimizer: str = "adam",
    n_epochs: int = 1000, lr: float = 1e-3, weight_decay: float = 0.01,
) -> tuple[Float[Tensor, "restart d_model"], Float[Tensor, " restart"], Float[Tensor, " restart"]]:
    """Train all restarts at once on normalised pairs (full batch).

    Adam is ``torch.optim.AdamW`` with decoupled weight decay on ``w`` only; L-BFGS minimises
    the summed loss plus ``weight_decay * ||w||^2`` for at most ``n_epochs`` iterations.

    Args:
        z: Normalised contrast pairs.
        w0: Initial weights, one row per restart.
        b0: Initial intercepts.
        loss_fn: Maps probabilities ``(m, 2, restart)`` to one loss per restart.
        optimizer: ``"adam"`` or ``"lbfgs"``.
        n_epochs: Adam steps, or the L-BFGS iteration cap.
        lr: Step size.
        weight_decay: Strength of the penalty on ``w``.

    Returns:
        ``(weights, intercepts, losses)``; losses are each restart's final ``loss_fn`` value
        (without the weight penalty).

    Example:
        >>> w0, b0 = init_restarts(z.shape[-1], n_restarts=10, seed=0)
        >>> w, b, losses = train_restarts(z, w0, b0, ccs_loss)  # doctest: +SKIP
    """
    if optimizer == "adam":
        return _train_adamw(z, w0, b0, loss_fn, n_epochs, lr, weight_decay)
    w = w0.detach().clone().to(z.dtype).requires_grad_(True)
    b = b0.detach().clone().to(z.dtype).requires_grad_(True)

    def probs() -> Tensor:
        return torch.sigmoid(einsum(z, w, "m side d_model, restart d_model -> m side restart") + b)

    lbfgs_minimize(lambda: loss_fn(probs()).sum() + weight_decay * (w * w).sum(),
                   [w, b], max_iter=n_epochs, tol=1e-7, lr=lr)
    with torch.no_grad():
        losses = loss_fn(probs())
    return w.detach(), b.detach(), losses


def _train_adamw(
    z: Float[Tensor, "m 2 d_model"], w0: Float[Tensor, "restart d_model"], b0: Float[Tensor, " restart"],
    loss_fn: PairLoss, n_epochs: int, lr: float, weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
) -> tuple[Float[Tensor, "restart d_model"], Float[Tensor, " restart"], Float[Tensor, " restart"]]:
    """Full-batch AdamW over all restarts, the linear layer's gradient written out by hand.

    Autograd differentiates only the cheap part, ``loss_fn`` on the ``(m, 2, restart)``
    probabilities; the chain through the sigmoid and the matrix product (``dL/dw = g^T z``) and the
    AdamW update (``torch.optim.AdamW``'s arithmetic: decay ``w`` by ``1 - lr * weight_decay``, then
    the bias-corrected step) are a handful of in-place tensor operations. Tests check the losses and
    weights against a plain loop of ``torch.optim.AdamW`` with autograd; this is 3-5x faster on a CPU.
    """
    m = z.shape[0]
    flat = z.reshape(2 * m, -1)  # rows: pair 0 no, pair 0 yes, pair 1 no, ...
    w, b = w0.detach().clone().to(z.dtype), b0.detach().clone().to(z.dtype)
    moments = [(torch.zeros_like(t), torch.zeros_like(t)) for t in (w, b)]
    beta1, beta2 = betas
    written = getattr(loss_fn, "grad", None)  # a loss with its gradient written out skips autograd
    for step in range(1, n_epochs + 1):
        if written is not None:
            p = torch.sigmoid(torch.addmm(b, flat, w.T)).view(m, 2, -1)
            p_grad = written(p)
        else:
            p = torch.sigmoid(torch.addmm(b, flat, w.T)).view(m, 2, -1).requires_grad_(True)
            loss_fn(p).sum().backward()
            p_grad = p.grad
        with torch.no_grad():
            g_logits = (p_grad * p * (1 - p)).view(2 * m, -1)
            grads = (g_logits.T @ flat, g_logits.sum(dim=0))
            w.mul_(1 - lr * weight_decay)
            bias1, root_bias2 = 1 - beta1**step, math.sqrt(1 - beta2**step)
            for param, grad, (mean, square) in zip((w, b), grads, moments, strict=True):
                mean.lerp_(grad, 1 - beta1)
                square.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                param.addcdiv_(mean, (square.sqrt() / root_bias2).add_(eps), value=-lr / bias1)
    with torch.no_grad():
        losses = loss_fn(torch.sigmoid(torch.addmm(b, flat, w.T)).view(m, 2, -1))
    return w, b, losses


def consensus_restart(z: Float[Tensor, "m 2 d_model"], w: Float[Tensor, "restart d_model"],
                      b: Float[Tensor, " restart"]) -> int:
    """The restart whose P(true) on the pairs ``z`` agrees best with the other restarts'.

    Agreement is the mean absolute Pearson correlation with every other restart (absolute: an
    unsupervised direction's sign is arbitrary); a restart with constant output agrees with none.
    With fewer than three restarts there is no majority: the lowest loss is kept.

    Example:
        >>> consensus_restart(z, w, b)  # doctest: +SKIP
        3
    """
    if w.shape[0] < 3:
        return 0 if w.shape[0] == 1 else int(torch.argmin(ccs_loss(torch.sigmoid(z @ w.T + b))))
    with torch.no_grad():
        p = torch.sigmoid(z.double() @ w.double().T + b.double())
        truth = 0.5 * (p[:, 1] + 1 - p[:, 0])  # (m, restart)
        agreement = torch.nan_to_num(torch.corrcoef(truth.T), nan=0.0).abs()
        agreement.fill_diagonal_(0.0)
    return int(torch.argmax(agreement.sum(dim=1)))


@register
class CCS(BaseProbe):
    """Contrast-Consistent Search: an unsupervised truth direction from contrast pairs.

    Args:
        n_restarts: Random restarts, trained as one batch; the lowest final loss wins.
        n_epochs: Full-batch Adam steps (or the L-BFGS iteration cap).
        lr: Step size; ``None`` means 1e-3 for Adam and 1.0 for L-BFGS.
        weight_decay: AdamW decoupled decay on ``w`` (L-BFGS: penalty ``weight_decay*||w||^2``).
        optimizer: ``"adam"`` or ``"lbfgs"``.
        normalize: ``"mean"`` (default, as Burns et al. released it: subtract each side's mean),
            ``"meanvar"`` (also divide by the per-feature standard deviation) or ``"none"``;
            training split only. ``"mean"`` matched Burns' released CCS seed after seed on the
            embedded model where ``"meanvar"`` fell up to 5 points below it
            (tests/acceptance/probes/test_ccs_burns_parity.py).
        seed: Restart ``r`` is initialised from seed ``seed + r``.
        selection: ``"consensus"`` (default): keep the restart whose training P(true) correlates
            best (in absolute value) with the other restarts'; ``"loss"``: the lowest final loss.

    Example:
        >>> ccs = CCS(n_restarts=10).fit(pairs)  # pairs: (n, 2, d_model); no labels needed
        >>> ccs.predict_true(test_pairs)  # 0.5 * (p_yes + 1 - p_no), shape (n,)
        >>> ccs = CCS().fit(pairs, labels)  # labels only choose the sign (sign_fixed_ = True)
    """

    _input_trailing = (2,)
    _tensor_attrs = BaseProbe._tensor_attrs + (
        "coef_", "intercept_", "mean_", "scale_", "restart_losses_")
    _json_attrs = BaseProbe._json_attrs + ("best_restart_", "loss_", "sign_fixed_")
    SELECTIONS = ("consensus", "loss")
    _hyperparameter_constraints = {"selection": [Options(*SELECTIONS)], "n_restarts": [Interval(int, 1)],
                              "n_epochs": [Interval(int, 1)], "weight_decay": [Interval(float, 0)]}
    sign_convention = (
        "direction_ points where the probe's P(true) rises; if sign_fixed_ is false the fit was "
        "unsupervised and the sign is arbitrary (fit with labels to point it toward label 1)"
    )

    def __init__(self, n_restarts: int = 10, n_epochs: int = 1000, lr: float | None = None,
                 weight_decay: float = 0.01, optimizer: str = "adam",
                 normalize: str = "mean", seed: int = 0, selection: str = "consensus"):
        self.n_restarts = n_restarts
        self.n_epochs = n_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.normalize = normalize
        self.seed = seed
        self.selection = selection

    def fit(
        self, X: Float[Array, "n 2 d_model"], y: Real[Array, " n"] | None = None
    ) -> CCS:
        """Fit on contrast pairs ``X: (n, 2, d_model)``; labels, if given, only fix the sign.

        Args:
            X: Training pairs, index 0 = false/no completion, 1 = true/yes completion.
            y: Optional 0/1 labels (1 = the "yes" completion is true).

        Returns:
            ``self``.
        """
        self._validate_hyperparameters()
        x = check_activations(X, self._input_trailing, dtype=torch.float32)
        labels = None if y is None else check_binary_labels(y, n=x.shape[0])
        self.mean_, self.scale_ = fit_pair_normalizer(self._normalizer_cells(x), self.normalize)
        self._train(self._as_pairs(self._normalized(x)), self._loss_fn(x.shape[0]))
        self._finish_pair_fit(x, labels)
        return self

    def predict_side_proba(self, X: Float[Array, "n 2 d_model"]) -> Float[np.ndarray, "n 2"]:
        """Probe output on each completion, ``[p_no, p_yes]`` per pair: float64 ``(n, 2)``."""
        x = self._check_X(X, dtype=torch.float32)
        return to_numpy(self._side_probs(self._normalized(x)))

    def predict_true(self, X: Float[Array, "n 2 d_model"]) -> Float[np.ndarray, " n"]:
        """P(true) of each pair, ``0.5 * (p_yes + 1 - p_no)``; float64 numpy ``(n,)``."""
        x = self._check_X(X, dtype=torch.float32)
        return to_numpy(self._truth(self._side_probs(self._normalized(x))))

    def decision_function(self, X: Float[Array, "n 2 d_model"]) -> Float[np.ndarray, " n"]:
        """``logit(predict_true(X))``, clipped to +-34.5 (float64 numpy ``(n,)``)."""
        return logit(np.clip(self.predict_true(X), 1e-15, 1 - 1e-15))

    def _validate_hyperparameters(self) -> None:
        if self.optimizer not in ("adam", "lbfgs"):
            raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {self.optimizer!r}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        self._check_params()
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0 (or None for the optimizer default), got {self.lr}")

    def _as_pairs(self, x: Tensor) -> Float[Tensor, "m 2 d_model"]:
        """The contrast pairs the probe trains on (subclasses may reshape their input)."""
        return x

    def _normalizer_cells(self, x: Tensor) -> Tensor:
        """``(n, *cells, d_model)``: each cell gets its own training mean (and scale)."""
        return x

    def _loss_fn(self, n: int) -> PairLoss:
        """The per-restart training loss (subclasses may add terms)."""
        return ccs_loss

    def _truth(self, p: Float[Tensor, "n 2"]) -> Float[Tensor, " n"]:
        """P(true) from the side probabilities."""
        return 0.5 * (p[:, 1] + 1 - p[:, 0])

    def _normalized(self, x: Tensor) -> Tensor:
        return ((x - self.mean_) / self.scale_).to(torch.float32)

    def _side_probs(self, z: Float[Tensor, "n ... d_model"]) -> Float[Tensor, "n ..."]:
        logits = z.double() @ self.coef_.double() + self.intercept_.double()
        return torch.sigmoid(logits)

    def _train(self, z: Float[Tensor, "m 2 d_model"], loss_fn: PairLoss) -> None:
        """Run the batched restarts and keep the selected one as ``coef_`` / ``intercept_``."""
        lr = self.lr if self.lr is not None else (1e-3 if self.optimizer == "adam" else 1.0)
        w0, b0 = init_restarts(z.shape[-1], int(self.n_restarts), int(self.seed))
        w, b, losses = train_restarts(z, w0, b0, loss_fn, self.optimizer, int(self.n_epochs),
                                      lr, self.weight_decay)
        best = int(torch.argmin(losses)) if self.selection == "loss" else consensus_restart(z, w, b)
        self.coef_, self.intercept_ = w[best].clone(), b[best].clone()
        self.restart_losses_ = losses.to(torch.float32)
        self.best_restart_, self.loss_ = best, float(losses[best])
        logger.info("%s fit: kept restart %d of %d by %s, loss %.4g (lowest %.4g, highest %.4g)",
                    type(self).__name__, best, losses.numel(), self.selection, self.loss_, float(losses.min()),
                    float(losses.max()))

    def _finish_pair_fit(self, x: Tensor, labels: Tensor | None) -> None:
        """Fix the sign from labels (if any) and store the raw-space ``direction_``."""
        self.sign_fixed_ = labels is not None
        if labels is not None:
            truth = self._truth(self._side_probs(self._normalized(x)))
            accuracy = ((truth > 0.5).double() == labels).double().mean()
            if accuracy < 0.5:
                self.coef_, self.intercept_ = -self.coef_, -self.intercept_
        self._finish_fit(raw_pair_direction(self.coef_, self.scale_))
