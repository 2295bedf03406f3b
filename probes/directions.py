"""Direction finding, written once: mean difference, top principal component, sign fixing.

Probes (mass-mean, CRC-TPC) and steering (RepE reading vectors, honesty, EAST) all find their
directions with these functions. Every function works on a batch of independent problems: a
leading sample axis ``n`` and any number of batch axes (e.g. layers) before ``d_model``.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

__all__ = ["fix_sign", "mean_difference", "top_component", "unit", "weighted_mean_difference"]


def mean_difference(
    positive: Float[Tensor, "n_pos *batch d_model"], negative: Float[Tensor, "n_neg *batch d_model"]
) -> Float[Tensor, "*batch d_model"]:
    """Mean of ``positive`` minus mean of ``negative`` (for pairs, the mean of the differences).

    Example:
        >>> mean_difference(torch.ones(3, 4), torch.zeros(5, 4))
        tensor([1., 1., 1., 1.])
    """
    return positive.mean(dim=0) - negative.mean(dim=0)


def weighted_mean_difference(
    x: Float[Tensor, "n *batch d_model"], weights: Float[Tensor, " n"]
) -> Float[Tensor, "*batch d_model"]:
    """``sum_i (w_i - mean w) (x_i - mean x)``: the mean difference generalised to a graded score.

    With 0/1 weights this is ``n_1 * n_0 / n`` times :func:`mean_difference` of the two groups;
    EAST uses the action entropy as the weight.
    """
    w = weights.to(x.dtype) - weights.to(x.dtype).mean()
    centred = x - x.mean(dim=0, keepdim=True)
    return torch.einsum("n,n...->...", w, centred)


def top_component(x: Float[Tensor, "n *batch d_model"]) -> Float[Tensor, "*batch d_model"]:
    """First principal axis of ``x`` (centred over ``n``), one per batch index; its sign is arbitrary.

    Example:
        >>> top_component(torch.randn(10, 3, 8)).shape  # one axis per layer
        torch.Size([3, 8])
    """
    centred = x - x.mean(dim=0, keepdim=True)
    batched = centred.movedim(0, -2)  # (*batch, n, d_model)
    return torch.linalg.svd(batched, full_matrices=False).Vh[..., 0, :]


def unit(raw: Float[Tensor, "*batch d_model"], what: str = "direction") -> Float[Tensor, "*batch d_model"]:
    """``raw`` scaled to norm 1 along the last axis.

    Raises:
        ValueError: A direction is zero or not finite (``what`` names it in the message).
    """
    norms = raw.norm(dim=-1, keepdim=True)
    if not torch.isfinite(norms).all() or (norms == 0).any():
        raise ValueError(f"found a zero or non-finite {what}: the two groups (or the representations) do not differ")
    return raw / norms


def fix_sign(
    directions: Float[Tensor, "*batch d_model"], projections: Float[Tensor, "n ..."]
) -> tuple[Float[Tensor, "*batch d_model"], Float[Tensor, "*batch"]]:
    """Flip each direction whose ``projections`` are more often negative than positive.

    Args:
        directions: One direction per batch index.
        projections: Signed evidence per sample and batch index, e.g. ``(pos - neg) . v``, or
            ``(score - offset) * (2 y - 1)`` to point a probe toward label 1.

    Returns:
        ``(directions, flipped)``: the oriented directions and a boolean mask of the flipped ones.
    """
    flipped = (projections > 0).double().mean(dim=0) < (projections < 0).double().mean(dim=0)
    sign = torch.where(flipped, -1.0, 1.0).to(directions.dtype)
    return directions * sign.unsqueeze(-1), flipped
