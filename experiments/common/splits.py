"""Seeded, stratified train/test splits: every study splits the same way."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

__all__ = ["stratified_split"]


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices with both labels in the same proportion on each side.

    Args:
        labels: 0/1 label per row.
        test_fraction: Fraction held out, in (0, 1).
        seed: Seed of the split.

    Returns:
        ``(train, test)`` sorted row indices.

    Raises:
        ValueError: Fewer than two rows of either label.

    Example:
        >>> train, test = stratified_split(np.array([0, 1] * 10), 0.3, seed=0)
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 2:
        raise ValueError(f"labels have {counts[0]} false and {counts[1]} true rows: a split needs at least 2 of each")
    train, test = train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)
