"""Fitting probes on activations larger than memory, one chunk at a time.

``LogisticProbe``, ``MassMeanProbe`` and ``PIKHead`` accept a one-layer
:class:`veracity.hooks.view.ActivationView` (``load_activations(DIR, mmap=True).layer(L)``) as ``X``.
They then make passes over its chunks instead of holding the activations: streaming sums for
means, variances and class statistics, and the full-batch loss and gradient summed chunk by chunk
for L-BFGS or Adam. The fitted probe equals the in-memory fit on the same data up to float64
rounding (``tests/unit/probes/test_streaming.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["Pieces", "binary_labels", "is_view", "one_layer", "pieces_of", "streaming_standardizer"]

Pieces = Callable[[], Iterator[tuple[Tensor, Tensor]]]
"""A function that yields ``(x, y)`` row blocks in order (float64 ``x``), once per pass."""


def is_view(X: Any) -> bool:
    """Whether ``X`` is an on-disk activation view rather than an in-memory array."""
    from veracity.hooks.view import ActivationView

    return isinstance(X, ActivationView)


def one_layer(view) -> tuple[int, int]:
    """``(n, d_model)`` of a one-layer view; a view of several layers is a one-line error."""
    if view.ndim != 2:
        raise ValueError(f"a probe fits one layer: pass view.layer(L) (this view has shape {view.shape}; layers "
                         f"{view.layers})")
    return view.shape


def pieces_of(view, y: Tensor, transform: Callable[[Tensor], Tensor] | None = None) -> Pieces:
    """``(x, y)`` blocks of a one-layer view (``x`` float64, through ``transform``), checked for NaN/inf."""
    one_layer(view)
    if y.numel() != len(view):
        raise ValueError(f"y has {y.numel()} labels for {len(view)} examples: pass one label per example")

    def blocks() -> Iterator[tuple[Tensor, Tensor]]:
        start = 0
        for chunk in view.chunks():
            x = chunk.to(torch.float64)
            if not torch.isfinite(x).all():
                raise ValueError(f"{view.folder}: rows {start}..{start + len(x) - 1} hold NaN or inf: "
                                 "re-extract them or drop those rows")
            yield (x if transform is None else transform(x)), y[start:start + len(x)]
            start += len(x)

    return blocks


def streaming_standardizer(pieces: Pieces, d: int) -> tuple[Tensor, Tensor]:
    """Per-feature mean and standard deviation (ddof=0) in two passes: the in-memory standardiser's numbers."""
    n, total = 0, torch.zeros(d, dtype=torch.float64)
    for x, _ in pieces():
        total += x.sum(dim=0)
        n += x.shape[0]
    mean = total / n
    square = torch.zeros(d, dtype=torch.float64)
    for x, _ in pieces():
        square += ((x - mean) ** 2).sum(dim=0)
    scale = torch.sqrt(square / n)
    return mean, torch.where(scale > 0, scale, torch.ones_like(scale))


def binary_labels(y: Any, n: int) -> tuple[Tensor, np.ndarray]:
    """Any two classes as 0/1 float64 (the second sorted class is 1) and the classes themselves."""
    labels = np.asarray(y).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"y has {labels.shape[0]} labels for {n} examples: pass one label per example")
    classes = np.unique(labels)
    if len(classes) != 2:
        raise ValueError(f"a truth probe needs labels of exactly two classes (false and true), y has {len(classes)}: "
                         "pass examples of both")
    return torch.from_numpy((labels == classes[1]).astype(np.float64)), classes
