"""Standardisation fitted on the training split only, for plain activations and contrast pairs.

Statistics are computed once in ``fit`` and stored on the probe; prediction reuses them (never
test-set statistics). Features with zero spread get scale 1 so they pass through unchanged.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

__all__ = ["NORMALIZE_MODES", "fit_pair_normalizer", "fit_standardizer", "raw_pair_direction"]

NORMALIZE_MODES = ("mean", "meanvar", "none")
"""Contrast-pair normalisations: subtract the per-side mean; also divide by the per-side,
per-feature standard deviation (Burns et al. 2022); or leave the activations alone."""


def fit_standardizer(
    x: Float[Tensor, "n d_model"], weight: Float[Tensor, " n"] | None = None,
) -> tuple[Float[Tensor, " d_model"], Float[Tensor, " d_model"]]:
    """Per-feature mean and standard deviation (ddof=0, like scikit-learn's ``StandardScaler``).

    Args:
        x: Training activations.
        weight: Per-row weights (as ``StandardScaler.fit(x, sample_weight=)``: a weight of 2 counts
            the row twice, 0 leaves it out); default 1 each.

    Returns:
        ``(mean, scale)``; standardise with ``(x - mean) / scale``.

    Example:
        >>> mean, scale = fit_standardizer(torch.randn(10, 4))
    """
    if weight is None:
        mean = x.mean(dim=0)
        scale = x.std(dim=0, correction=0)
        return mean, torch.where(scale > 0, scale, torch.ones_like(scale))
    share = (weight / weight.sum()).to(x.dtype)
    mean = share @ x
    scale = (share @ (x - mean) ** 2).sqrt()
    kept = x[weight > 0]  # a feature constant over the rows that count has no spread, rounding aside
    constant = kept.max(dim=0).values == kept.min(dim=0).values
    return mean, torch.where((scale > 0) & ~constant, scale, torch.ones_like(scale))


def fit_pair_normalizer(
    x: Float[Tensor, "n *cells d_model"], mode: str
) -> tuple[Float[Tensor, "*cells d_model"], Float[Tensor, "*cells d_model"]]:
    """Per-cell statistics for contrast pairs (cell 0 = false/no side, cell 1 = true/yes side).

    Each side (or, for inputs with more cells such as ``(n, 2, 2, d)``, each cell) is normalised
    separately, so that a constant token difference between cells (" Yes" vs " No", "not") is
    removed and cannot pass for truth.

    Args:
        x: Training contrast pairs; every axis between the first and the last is a cell axis.
        mode: ``"mean"``, ``"meanvar"`` or ``"none"`` (see :data:`NORMALIZE_MODES`).

    Returns:
        ``(mean, scale)`` of shape ``x.shape[1:]``; normalise with ``(x - mean) / scale``.

    Raises:
        ValueError: Unknown ``mode``.

    Example:
        >>> mean, scale = fit_pair_normalizer(torch.randn(10, 2, 4), "meanvar")
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {mode!r}")
    ones = torch.ones(x.shape[1:], dtype=x.dtype)
    if mode == "none":
        return torch.zeros_like(ones), ones
    mean = x.mean(dim=0)
    if mode == "mean":
        return mean, ones
    scale = x.std(dim=0, correction=0)
    return mean, torch.where(scale > 0, scale, ones)


def raw_pair_direction(
    w: Float[Tensor, " d_model"], scale: Float[Tensor, "*cells d_model"]
) -> Float[Tensor, " d_model"]:
    """Map a direction in normalised pair space back to raw activation space.

    A weight ``w`` on normalised cell ``c`` acts on raw activations as ``w / scale[c]``; the
    cells are averaged (identical unless ``mode="meanvar"``).

    Args:
        w: Direction in normalised space.
        scale: Per-cell scales from :func:`fit_pair_normalizer`.

    Returns:
        The raw-space direction (not normalised).

    Example:
        >>> raw_pair_direction(torch.ones(3), torch.ones(2, 3)).tolist()
        [1.0, 1.0, 1.0]
    """
    return (w / scale).reshape(-1, w.shape[-1]).mean(dim=0)
