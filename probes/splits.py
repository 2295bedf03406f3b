"""Seeded train/test splits: every study splits the same way (by group where rows share a question or entity)."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, train_test_split

logger = logging.getLogger(__name__)

__all__ = ["VALIDATION_FRACTION", "grouped_split", "grouped_splits", "stratified_group_split", "stratified_split",
           "validation_split"]


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


def grouped_split(groups, test_fraction: float, seed: int, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test row indices with every group wholly on one side (scikit-learn's ``GroupShuffleSplit``).

    Args:
        groups: Group id per row (the question, city or entity a row is about).
        test_fraction: Fraction of the groups held out, in (0, 1).
        seed: Seed of the split.
        labels: Optional 0/1 label per row: then both sides must hold both labels.

    Returns:
        ``(train, test)`` sorted row indices; no group appears on both sides.

    Raises:
        ValueError: Fewer than two groups, or (with ``labels``) a side without both labels.

    Example:
        >>> train, test = grouped_split([0, 0, 1, 1, 2, 2, 3, 3], 0.5, seed=0)
    """
    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2:
        raise ValueError(f"{len(np.unique(groups))} group(s): a grouped split needs at least 2 questions or entities")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(groups)), groups=groups))
    if labels is not None:
        labels = np.asarray(labels)
        if len(np.unique(labels)) < 2:
            raise ValueError(f"every row has the label {labels.flat[0]}: a probe needs true and false examples; "
                             "pass a dataset with both")
        for name, side in (("training", train), ("test", test)):
            if len(np.unique(labels[side])) < 2:
                raise ValueError(f"the {name} side of the grouped split holds one label only: use more questions "
                                 "or another --seed")
    return np.sort(train), np.sort(test)


def stratified_group_split(labels, groups, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test row indices, grouped (a group wholly on one side) and stratified by the group's label.

    For rows whose label is a property of the group (the greedy answer to one question text, asked
    twice, is graded the same): the distinct groups are split with :func:`stratified_split` on each
    group's label (its first row's), then every row follows its group.

    Args:
        labels: 0/1 label per row.
        groups: Group id per row (e.g. the question text).
        test_fraction: Fraction of the groups held out, in (0, 1).
        seed: Seed of the split.

    Returns:
        ``(train, test)`` sorted row indices; no group on both sides.

    Example:
        >>> train, test = stratified_group_split([1, 1, 0, 0, 1, 0], ["a", "a", "b", "c", "d", "e"], 0.4, seed=0)
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    _, test_groups = stratified_split(labels[first], test_fraction, seed)
    in_test = np.isin(inverse, test_groups)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def grouped_splits(groups: dict[str, np.ndarray], test_fraction: float, seed: int
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One grouped split shared by several datasets: an entity held out in one is held out in all.

    The distinct group ids of every dataset together are split once; each dataset's rows follow
    their id. Datasets that name the same entity with the same id (``"city:Paris"`` in cities and
    neg_cities) therefore never train on an entity another dataset tests.

    Args:
        groups: Dataset name to the group id of each of its rows.
        test_fraction: Fraction of the distinct ids held out, in (0, 1).
        seed: Seed of the split.

    Returns:
        Dataset name to ``(train, test)`` sorted row indices.

    Example:
        >>> splits = grouped_splits({"a": np.array(["x", "y", "z"]), "b": np.array(["x", "w"])}, 0.5, seed=0)
    """
    ids = np.unique(np.concatenate([np.asarray(g) for g in groups.values()]))
    _, test_ids = grouped_split(ids, test_fraction, seed)
    held_out = ids[test_ids]
    out = {}
    for name, g in groups.items():
        in_test = np.isin(np.asarray(g), held_out)
        out[name] = (np.flatnonzero(~in_test), np.flatnonzero(in_test))
    return out


VALIDATION_FRACTION = 0.25
"""Share of the training groups :func:`validation_split` sets aside to choose a layer or a setting."""


def validation_split(groups, labels, train: np.ndarray, seed: int, fraction: float = VALIDATION_FRACTION
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(fit, validation)`` rows inside ``train``, grouped like the outer split, for choices made off the test set.

    A layer (or any setting) is chosen by fitting on ``fit`` and scoring on ``validation``; the
    test rows never take part. When ``train`` is too small to split (one class on a side), returns
    ``(train, None)`` and logs a warning: the caller then has no validation part.

    Example:
        >>> fit, val = validation_split(groups, labels, train, seed=0)
    """
    groups, labels = np.asarray(groups), np.asarray(labels)
    try:
        fit, val = grouped_split(groups[train], fraction, seed, labels=labels[train])
    except ValueError as err:
        logger.warning("no validation split (%s): choices fall back to the held-out split (optimistic)", err)
        return train, None
    return train[fit], train[val]
