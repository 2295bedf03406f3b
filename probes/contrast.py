"""Baselines for unsupervised contrast-pair probes: CRC-TPC and a random direction.

Both take the same input as :class:`veracity.probes.ccs.CCS` (``X: (n, 2, d_model)``, index 0 = no,
1 = yes), normalise each side with training statistics, and score a pair by projecting the
normalised difference ``d = z_yes - z_no`` on a unit direction ``v``:

    P(true) = sigmoid((v . d - offset_) / spread_)

where ``offset_`` and ``spread_`` are the mean and standard deviation of the training projections
(so the threshold is the training mean and the scale is unsupervised). Labels, if given to
``fit``, only flip the sign of ``v`` when training accuracy is below 0.5 (as in CCS), so the
baselines stay comparable to CCS numbers.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from jaxtyping import Float, Real
from torch import Tensor

from veracity.probes.base import BaseProbe
from veracity.probes.directions import fix_sign, top_component, unit
from veracity.probes.preprocessing import fit_pair_normalizer, raw_pair_direction
from veracity.probes.registry import register
from veracity.probes.validation import Array, check_activations, check_binary_labels, to_numpy

__all__ = ["CRCProbe", "RandomDirectionProbe"]

logger = logging.getLogger(__name__)


class _PairProjectionProbe(BaseProbe):
    """Shared fit/predict for probes that project normalised pair differences on one direction."""

    _input_trailing = (2,)
    _tensor_attrs = BaseProbe._tensor_attrs + ("coef_", "mean_", "scale_")
    _json_attrs = BaseProbe._json_attrs + ("offset_", "spread_", "sign_fixed_")
    sign_convention = (
        "direction_ points where P(true) rises; if sign_fixed_ is false the sign is arbitrary "
        "(fit with labels to point it toward label 1)"
    )

    def fit(
        self, X: Float[Array, "n 2 d_model"], y: Real[Array, " n"] | None = None
    ) -> _PairProjectionProbe:
        """Fit on contrast pairs ``X: (n, 2, d_model)``; labels, if given, only fix the sign.

        Args:
            X: Training pairs, index 0 = false/no completion, 1 = true/yes completion.
            y: Optional 0/1 labels (1 = the "yes" completion is true).

        Returns:
            ``self``.
        """
        x = check_activations(X, self._input_trailing)
        labels = None if y is None else check_binary_labels(y, n=x.shape[0])
        self.mean_, self.scale_ = fit_pair_normalizer(x, self.normalize)
        diff = self._differences(x)
        v = unit(self._find_direction(diff))
        s = diff @ v
        offset = float(s.mean())
        spread = float(s.std(correction=0))
        self.spread_ = spread if spread > 0 else 1.0
        self.sign_fixed_ = labels is not None
        if labels is not None:
            v, flipped = fix_sign(v, (s - offset) * (2 * labels - 1))
            offset = -offset if bool(flipped) else offset
        self.coef_, self.offset_ = v, offset
        logger.info("%s fit: n=%d d_model=%d", type(self).__name__, x.shape[0], x.shape[-1])
        self._finish_fit(raw_pair_direction(v, self.scale_))
        return self

    def decision_function(self, X: Float[Array, "n 2 d_model"]) -> Float[np.ndarray, " n"]:
        """Standardised projection ``(v . d - offset_) / spread_`` (float64 numpy ``(n,)``)."""
        diff = self._differences(self._check_X(X))
        return to_numpy((diff @ self.coef_ - self.offset_) / self.spread_)

    def _differences(self, x: Float[Tensor, "n 2 d_model"]) -> Float[Tensor, "n d_model"]:
        z = (x - self.mean_) / self.scale_
        return z[:, 1] - z[:, 0]

    def _find_direction(self, diff: Float[Tensor, "n d_model"]) -> Float[Tensor, " d_model"]:
        raise NotImplementedError  # pragma: no cover


@register
class CRCProbe(_PairProjectionProbe):
    """CRC-TPC (Burns et al. 2022): the top principal component of normalised pair differences.

    ``coef_`` is that component (unit norm, in normalised space); its SVD sign is arbitrary
    unless labels are passed to ``fit``.

    Args:
        normalize: ``"mean"`` (default), ``"meanvar"`` or ``"none"``; see CCS.

    Example:
        >>> tpc = CRCProbe().fit(pairs)  # pairs: (n, 2, d_model)
        >>> tpc.predict_true(test_pairs)  # shape (n,)
        >>> max(tpc.score(test_pairs, y), 1 - tpc.score(test_pairs, y))  # sign-free accuracy
    """

    def __init__(self, normalize: str = "mean"):
        self.normalize = normalize

    def _find_direction(self, diff: Float[Tensor, "n d_model"]) -> Float[Tensor, " d_model"]:
        return top_component(diff)


@register
class RandomDirectionProbe(_PairProjectionProbe):
    """Chance baseline: a random unit direction (seeded) on normalised pair differences.

    Args:
        seed: Seed of the ``torch.Generator`` that draws the direction (``N(0, I)``, normalised).
        normalize: ``"mean"`` (default), ``"meanvar"`` or ``"none"``; see CCS.

    Example:
        >>> rand = RandomDirectionProbe(seed=0).fit(pairs)
        >>> rand.score(test_pairs, y)  # what a direction with no information scores
    """

    def __init__(self, seed: int = 0, normalize: str = "mean"):
        self.seed = seed
        self.normalize = normalize

    def _find_direction(self, diff: Float[Tensor, "n d_model"]) -> Float[Tensor, " d_model"]:
        gen = torch.Generator().manual_seed(int(self.seed))
        return torch.randn(diff.shape[1], generator=gen, dtype=diff.dtype)
