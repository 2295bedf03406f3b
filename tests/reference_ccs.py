"""A plain reference CCS, written the simple way: one restart at a time, a Python loop.

Used only to check that the batched :class:`veracity.probes.CCS` finds the same solutions. It repeats the
library's documented recipe independently: per-side mean/std normalisation (std with ddof=0),
restart ``r`` initialised as ``randn(d) / sqrt(d)`` from a generator seeded ``seed + r`` with
intercept 0, full-batch AdamW (weight decay on ``w`` only), keep the lowest final loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class ReferenceCCS:
    """Result of :func:`fit_reference_ccs`."""

    losses: list[float]
    w: Tensor
    b: Tensor
    mean: Tensor
    std: Tensor

    def predict_proba(self, x: Tensor) -> Tensor:
        """``0.5 * (p_yes + 1 - p_no)`` with the training normalisation."""
        z = (x - self.mean) / self.std
        p_no = torch.sigmoid(z[:, 0] @ self.w + self.b)
        p_yes = torch.sigmoid(z[:, 1] @ self.w + self.b)
        return 0.5 * (p_yes + 1 - p_no)


def fit_reference_ccs(x: Tensor, n_restarts: int, seed: int, n_epochs: int, lr: float = 1e-3,
                      weight_decay: float = 0.01) -> ReferenceCCS:
    """Fit CCS on pairs ``x: (n, 2, d)`` with "meanvar" normalisation, restart by restart."""
    x = x.float()
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    z = (x - mean) / std
    x_no, x_yes = z[:, 0], z[:, 1]
    d = x.shape[-1]
    losses, weights = [], []
    for r in range(n_restarts):
        gen = torch.Generator().manual_seed(seed + r)
        w = (torch.randn(d, generator=gen) / math.sqrt(d)).requires_grad_(True)
        b = torch.zeros((), requires_grad=True)
        opt = torch.optim.AdamW(
            [{"params": [w], "weight_decay": weight_decay}, {"params": [b], "weight_decay": 0.0}],
            lr=lr,
        )
        for _ in range(n_epochs):
            loss = _loss(x_no, x_yes, w, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            losses.append(float(_loss(x_no, x_yes, w, b)))
        weights.append((w.detach(), b.detach()))
    best = min(range(n_restarts), key=lambda r: losses[r])
    return ReferenceCCS(losses, weights[best][0], weights[best][1], mean, std)


def _loss(x_no: Tensor, x_yes: Tensor, w: Tensor, b: Tensor) -> Tensor:
    p_no = torch.sigmoid(x_no @ w + b)
    p_yes = torch.sigmoid(x_yes @ w + b)
    confidence = torch.min(p_no, p_yes).pow(2).mean()
    consistency = (p_no - (1 - p_yes)).pow(2).mean()
    return confidence + consistency


def fit_burns_ccs(x: Tensor, seed: int, n_tries: int = 10, n_epochs: int = 1000, lr: float = 1e-3,
                  weight_decay: float = 0.01):
    """CCS as Burns et al. 2022 released it, written independently: a sigmoid(nn.Linear) probe.

    Each side is centred with its own training mean (no variance scaling, their default); every
    try draws a fresh ``nn.Linear`` (PyTorch's default initialisation) after one
    ``torch.manual_seed(seed)``; full-batch AdamW with weight decay on weight and bias; the try
    with the lowest final loss is kept.

    Returns:
        A function mapping pairs ``(m, 2, d)`` to P(true) ``0.5 * (p_yes + 1 - p_no)`` as numpy.
    """
    torch.manual_seed(seed)
    mean = x.mean(dim=0)
    z = x - mean
    best_loss, best_state = float("inf"), None
    for _ in range(n_tries):
        probe = torch.nn.Sequential(torch.nn.Linear(x.shape[-1], 1), torch.nn.Sigmoid())
        opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(n_epochs):
            loss = _burns_loss(probe, z)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            loss = float(_burns_loss(probe, z))
        if loss < best_loss:
            best_loss, best_state = loss, {k: v.clone() for k, v in probe.state_dict().items()}
    probe.load_state_dict(best_state)

    def predict(pairs: Tensor):
        with torch.no_grad():
            z = pairs - mean
            return (0.5 * (probe(z[:, 1]) + 1 - probe(z[:, 0]))).squeeze(-1).double().numpy()

    return predict


def _burns_loss(probe, z: Tensor) -> Tensor:
    p_no, p_yes = probe(z[:, 0]), probe(z[:, 1])
    return torch.min(p_no, p_yes).pow(2).mean() + (p_no - (1 - p_yes)).pow(2).mean()
