"""Synthetic data with a planted truth direction, shared by the probes tests and fixtures.

Every data set is drawn from its own seeded ``torch.Generator``, so it is deterministic whatever
order the tests run in. Activations have a non-zero mean, isotropic noise, a truth signal of
known size along the unit vector ``truth`` and a large irrelevant variance along ``nuisance``
(orthogonal to ``truth``), so "the biggest direction" is never the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

D_MODEL = 32
N_TRAIN = 400


@dataclass
class Planted:
    """A train/test split with the unit vector along which truth was planted."""

    X: Tensor
    y: Tensor
    X_test: Tensor
    y_test: Tensor
    truth: Tensor


def basis(gen: torch.Generator, d: int) -> tuple[Tensor, Tensor]:
    """Two orthonormal random vectors: ``truth`` and ``nuisance``."""
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))
    return q[:, 0].contiguous(), q[:, 1].contiguous()


def make_acts(seed: int = 0, n: int = 2 * N_TRAIN, d: int = D_MODEL, shift: float = 1.5) -> Planted:
    """Plain activations: ``x = 2 + (2y - 1) * shift * truth + 4 g * nuisance + noise``."""
    gen = torch.Generator().manual_seed(seed)
    truth, nuisance = basis(gen, d)
    y = torch.randint(0, 2, (n,), generator=gen)
    sign = (2 * y - 1).float()[:, None]
    x = 2.0 + sign * shift * truth + 4.0 * torch.randn(n, 1, generator=gen) * nuisance
    x = x + torch.randn(n, d, generator=gen)
    return _split(x, y, truth)


def pair_activations(
    gen: torch.Generator, t: Tensor, truth: Tensor, nuisance: Tensor, completion: Tensor
) -> Tensor:
    """Contrast pairs ``(n, 2, d)`` for truth values ``t`` (1 = the "yes" completion is true).

    Each pair shares a statement vector with a large nuisance component; side ``s`` adds the
    constant completion-token offset ``completion[s]``; the yes side moves along ``+truth`` when
    the statement is true and the no side along ``-truth`` (and the reverse when it is false).
    """
    n, d = t.shape[0], truth.shape[0]
    sign = (2 * t - 1).float()[:, None]
    statement = 0.5 * torch.randn(n, d, generator=gen)
    statement = statement + 5.0 * torch.randn(n, 1, generator=gen) * nuisance
    no = statement + completion[0] - 1.5 * sign * truth
    yes = statement + completion[1] + 1.5 * sign * truth
    return torch.stack([no, yes], dim=1) + torch.randn(n, 2, d, generator=gen)


def make_pairs(seed: int = 1, n: int = 2 * N_TRAIN, d: int = D_MODEL) -> Planted:
    """Contrast pairs ``(n, 2, d)`` with a planted truth direction."""
    gen = torch.Generator().manual_seed(seed)
    truth, nuisance = basis(gen, d)
    y = torch.randint(0, 2, (n,), generator=gen)
    completion = 3.0 * torch.randn(2, d, generator=gen)
    return _split(pair_activations(gen, y, truth, nuisance, completion), y, truth)


def make_polarity(seed: int = 2, n: int = 2 * N_TRAIN, d: int = D_MODEL) -> Planted:
    """Statement / negation pairs ``(n, 2, 2, d)``; ``y`` = 1 when statement A is true."""
    gen = torch.Generator().manual_seed(seed)
    truth, nuisance = basis(gen, d)
    y = torch.randint(0, 2, (n,), generator=gen)
    completion = 3.0 * torch.randn(2, d, generator=gen)  # the same "no" / "yes" tokens for both
    a = pair_activations(gen, y, truth, nuisance, completion)
    not_a = pair_activations(gen, 1 - y, truth, nuisance, completion) + 2.0 * nuisance  # "not"
    return _split(torch.stack([a, not_a], dim=1), y, truth)


def make_pik(seed: int = 3, n: int = 2 * N_TRAIN, d: int = D_MODEL, k: int = 10) -> Planted:
    """Question activations with fraction-correct labels from a planted logit ``3 * truth . x``.

    ``y`` holds the soft labels (mean of ``k`` Bernoulli draws); ``y_test`` holds the true
    probabilities on the test half.
    """
    gen = torch.Generator().manual_seed(seed)
    truth, nuisance = basis(gen, d)
    x = 1.0 + torch.randn(n, d, generator=gen) + 3.0 * torch.randn(n, 1, generator=gen) * nuisance
    prob = torch.sigmoid(3.0 * (x @ truth) - 3.0 * truth.sum())
    frac = torch.binomial(torch.full((n, k), 1.0), prob[:, None].expand(n, k), generator=gen)
    planted = _split(x, frac.mean(dim=1), truth)
    planted.y_test = prob[n // 2:]
    return planted


def _split(x: Tensor, y: Tensor, truth: Tensor) -> Planted:
    """First half for training, second half held out."""
    half = x.shape[0] // 2
    return Planted(x[:half], y[:half], x[half:], y[half:], truth)


def cosine(a: Tensor, b: Tensor) -> float:
    """Cosine similarity of two vectors, in float64."""
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    return float(a @ b / (a.norm() * b.norm()))


def planted_confidences(seed=0, n=60):
    """Three confidence scores for ``n`` answers (verbal: 20% unparsed, P(IK) tracking correctness) and the labels."""
    rng = np.random.default_rng(seed)
    correct = rng.integers(0, 2, n)
    verbal = np.where(rng.random(n) < 0.2, np.nan, 1.0)
    p_ik = np.clip(0.3 + 0.4 * correct + 0.2 * rng.random(n), 0, 1)
    return {"verbal": verbal, "p_true": rng.random(n), "p_ik": p_ik}, correct
