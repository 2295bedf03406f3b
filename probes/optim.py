"""Small optimisation helpers shared by the probes: full-batch L-BFGS and a logistic solver.

:func:`fit_logistic` minimises ``mean(BCE(x @ w + b, y)) + 0.5 * l2 * ||w||^2`` (intercept
unpenalised) in float64 with L-BFGS. With ``l2 = 1 / (C * n)`` this has the same minimiser as
scikit-learn's ``C * sum(log-loss) + 0.5 * ||w||^2``. Targets may be soft (in [0, 1]).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

__all__ = ["fit_logistic", "lbfgs_minimize"]

logger = logging.getLogger(__name__)


def lbfgs_minimize(
    loss_fn: Callable[[], Tensor], params: list[Tensor], max_iter: int, tol: float, lr: float = 1.0
) -> int:
    """Minimise ``loss_fn()`` over ``params`` (leaf tensors with ``requires_grad``) in place.

    Args:
        loss_fn: Computes the scalar loss from the current ``params``.
        params: Tensors to optimise.
        max_iter: Maximum L-BFGS iterations.
        tol: Stop when the largest absolute gradient entry falls below this.
        lr: L-BFGS step length (1.0 with the strong-Wolfe line search).

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
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = int(opt.state[params[0]].get("n_iter", 0))
    if n_iter >= max_iter:
        logger.warning("L-BFGS stopped at max_iter=%d before reaching tol=%g", max_iter, tol)
    return n_iter


def fit_logistic(
    x: Float[Tensor, "n d"], y: Float[Tensor, " n"], l2: float, max_iter: int = 1000,
    tol: float = 1e-8, fit_intercept: bool = True,
) -> tuple[Float[Tensor, " d"], Float[Tensor, ""], int]:
    """L2-regularised logistic regression on (possibly soft) targets.

    Args:
        x: Features (converted to float64).
        y: Targets in [0, 1].
        l2: Penalty on ``w`` relative to the mean loss; 0 for none.
        max_iter: Maximum L-BFGS iterations.
        tol: Gradient tolerance on the mean-loss objective.
        fit_intercept: Learn an unpenalised intercept ``b`` (else ``b = 0``).

    Returns:
        ``(w, b, n_iter)`` in float64.

    Example:
        >>> w, b, _ = fit_logistic(torch.randn(50, 3), torch.randint(0, 2, (50,)).double(), l2=0.01)
    """
    x, y = x.to(torch.float64), y.to(torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=fit_intercept)

    def loss_fn() -> Tensor:
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y)
        return loss + 0.5 * l2 * (w @ w)

    params = [w, b] if fit_intercept else [w]
    n_iter = lbfgs_minimize(loss_fn, params, max_iter=max_iter, tol=tol)
    return w.detach(), b.detach(), n_iter
