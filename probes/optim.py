"""Small optimisation helpers shared by the probes: full-batch L-BFGS and a logistic solver.

:func:`fit_logistic` minimises ``mean(BCE(x @ w + b, y)) + 0.5 * l2 * ||w||^2`` (intercept
unpenalised) in float64 with L-BFGS. With ``l2 = 1 / (C * n)`` this has the same minimiser as
scikit-learn's ``C * sum(log-loss) + 0.5 * ||w||^2``. Targets may be soft (in [0, 1]).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np
import scipy.optimize
import torch
import torch.nn.functional as F
from jaxtyping import Float
from threadpoolctl import threadpool_limits
from torch import Tensor

__all__ = ["fit_device", "fit_logistic", "fit_logistic_pieces", "lbfgs_minimize"]

logger = logging.getLogger(__name__)


def lbfgs_minimize(
    loss_fn: Callable[[], Tensor], params: list[Tensor], max_iter: int, tol: float, lr: float = 1.0,
    computes_grad: bool = False,
) -> int:
    """Minimise ``loss_fn()`` over ``params`` (leaf tensors with ``requires_grad``) in place.

    Args:
        loss_fn: Computes the scalar loss from the current ``params``.
        params: Tensors to optimise.
        max_iter: Maximum L-BFGS iterations.
        tol: Stop when the largest absolute gradient entry falls below this.
        lr: L-BFGS step length (1.0 with the strong-Wolfe line search).
        computes_grad: ``loss_fn`` fills the gradients itself (piece by piece, for data read in
            chunks) and returns the loss detached.

    Returns:
        Number of iterations run.

    Example:
        >>> w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        >>> n = lbfgs_minimize(lambda: ((w - 1) ** 2).sum(), [w], max_iter=50, tol=1e-10)
    """
    opt = torch.optim.LBFGS(
        params, lr=lr, max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-15,
        history_size=20, line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = loss_fn()
        if not computes_grad:
            loss.backward()
        return loss

    opt.step(closure)
    n_iter = int(opt.state[params[0]].get("n_iter", 0))
    if n_iter >= max_iter:
        logger.warning("L-BFGS stopped at max_iter=%d before reaching tol=%g", max_iter, tol)
    return n_iter


def fit_device(device: str | torch.device | None) -> torch.device:
    """Where a probe's optimiser runs: ``None`` is the GPU when torch sees one, else the CPU.

    The activations stay where they are (in memory, or on disk for a view); each piece goes to this
    device for the loss and gradient, and the fitted weights come back to the CPU.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}: use None (the GPU when present), 'cpu' or 'cuda'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} asked for, but torch sees no CUDA GPU here: use 'cpu' or None")
    return device


def fit_logistic(
    x: Float[Tensor, "n d"], y: Float[Tensor, " n"], l2: float, max_iter: int = 1000,
    tol: float = 1e-8, fit_intercept: bool = True, device: str | torch.device | None = "cpu",
    sample_weight: Float[Tensor, " n"] | None = None,
) -> tuple[Float[Tensor, " d"], Float[Tensor, ""], int]:
    """L2-regularised logistic regression on (possibly soft) targets.

    Args:
        x: Features (converted to float64).
        y: Targets in [0, 1].
        l2: Penalty on ``w`` relative to the mean loss; 0 for none.
        sample_weight: Each row's weight in the loss (the mean loss is then ``sum_i w_i loss_i / n``,
            scikit-learn's ``sample_weight`` up to the factor ``n``); default 1 each.
        max_iter: Maximum L-BFGS iterations.
        tol: Gradient tolerance on the mean-loss objective.
        fit_intercept: Learn an unpenalised intercept ``b`` (else ``b = 0``).
        device: Where L-BFGS runs (:func:`fit_device`); the result is on the CPU either way.

    Returns:
        ``(w, b, n_iter)`` in float64, on the CPU.

    Example:
        >>> w, b, _ = fit_logistic(torch.randn(50, 3), torch.randint(0, 2, (50,)).double(), l2=0.01)
    """
    x, y = x.to(torch.float64), y.to(torch.float64)
    piece = (x, y) if sample_weight is None else (x, y, sample_weight.to(torch.float64))
    return fit_logistic_pieces(lambda: [piece], x.shape[1], y.numel(), l2, max_iter, tol, fit_intercept, device)


def fit_logistic_pieces(
    pieces: Callable[[], Iterable[tuple[Tensor, Tensor]]], d: int, n: int, l2: float, max_iter: int = 1000,
    tol: float = 1e-8, fit_intercept: bool = True, device: str | torch.device | None = "cpu",
) -> tuple[Float[Tensor, " d"], Float[Tensor, ""], int]:
    """:func:`fit_logistic` over data given in pieces (``pieces()`` yields ``(x, y)`` or ``(x, y, weight)`` row blocks).

    The loss and its analytic gradient are summed piece by piece in torch (one piece in memory at a
    time, moved to ``device``); SciPy's L-BFGS-B (the optimiser behind scikit-learn's ``lbfgs``)
    takes the steps, stopping when the largest gradient entry is below ``tol``. The full-batch fit
    equals the in-memory one up to float64 rounding.
    """
    device = fit_device(device)

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = torch.from_numpy(theta).to(device)
        w, b = params[:d], (params[d] if fit_intercept else 0.0)
        loss = torch.zeros((), dtype=torch.float64, device=device)
        grad_w = torch.zeros(d, dtype=torch.float64, device=device)
        grad_b = torch.zeros((), dtype=torch.float64, device=device)
        for x, y, *weight in pieces():
            x, y = x.to(device, torch.float64), y.to(device, torch.float64)
            logits = x @ w + b
            residual = torch.sigmoid(logits) - y
            if weight:
                weight = weight[0].to(device, torch.float64)
                loss += (weight * F.binary_cross_entropy_with_logits(logits, y, reduction="none")).sum()
                residual = residual * weight
            else:
                loss += F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
            grad_w += residual @ x
            grad_b += residual.sum()
        loss = loss / n + 0.5 * l2 * (w @ w)
        grad = torch.cat([grad_w / n + l2 * w, (grad_b / n)[None]]) if fit_intercept else grad_w / n + l2 * w
        return float(loss), grad.cpu().numpy()

    # L-BFGS-B's own vector updates are tiny: one BLAS thread, so that SciPy's BLAS threads do not spin
    # on the cores torch needs for the loss (on 2 cores that made every evaluation ~100x slower).
    with threadpool_limits(1, user_api="blas"):
        result = scipy.optimize.minimize(
            loss_and_grad, np.zeros(d + int(fit_intercept)), jac=True, method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": tol, "ftol": 64 * np.finfo(float).eps, "maxcor": 20, "maxls": 50},
        )
    if result.nit >= max_iter:
        logger.warning("L-BFGS stopped at max_iter=%d before reaching tol=%g", max_iter, tol)
    theta = torch.from_numpy(result.x)
    return theta[:d].clone(), (theta[d].clone() if fit_intercept else torch.zeros((), dtype=torch.float64)), result.nit
