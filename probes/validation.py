"""Turn user inputs into checked float tensors, with one-line errors that say what to do.

Every probe accepts torch tensors or numpy arrays. These helpers convert them, check their
shape, labels and width, and raise ``ValueError`` (or :class:`NotFittedError`) with a message a
user can act on.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float
from sklearn.exceptions import NotFittedError
from torch import Tensor

__all__ = [
    "Array",
    "NotFittedError",
    "as_float_tensor",
    "check_activations",
    "check_binary_labels",
    "check_soft_labels",
    "check_width",
    "to_numpy",
]

Array = Tensor | np.ndarray
"""Anything a probe accepts as input: a torch tensor or a numpy array."""


def as_float_tensor(x: Array, name: str = "X", dtype: torch.dtype = torch.float64) -> Tensor:
    """Convert a tensor or array to a finite float tensor on the CPU.

    Args:
        x: A torch tensor, numpy array or nested sequence of numbers.
        name: Used in error messages.
        dtype: Floating dtype of the result.

    Returns:
        A detached CPU tensor of ``dtype``.

    Raises:
        ValueError: The input is not numeric, is empty or holds NaN or inf.

    Example:
        >>> as_float_tensor(np.ones((2, 3))).dtype
        torch.float64
    """
    if isinstance(x, Tensor):
        t = x.detach().to("cpu")
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise ValueError(f"{name} must be a numeric tensor or array, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise ValueError(f"{name} must be real-valued, got dtype {t.dtype}")
    t = t.to(dtype)
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}): pass at least one example")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf: clean or drop those rows first")
    return t


def check_activations(
    x: Array, trailing: tuple[int, ...] = (), name: str = "X", dtype: torch.dtype = torch.float64
) -> Tensor:
    """Check the layout of an activation array: ``(n, *trailing, d_model)``.

    Args:
        x: Activations.
        trailing: Required sizes of the axes between the batch axis and ``d_model``
            (``()`` for plain activations, ``(2,)`` for contrast pairs, ``(2, 2)`` for
            polarity pairs).
        name: Used in error messages.
        dtype: Floating dtype of the result.

    Returns:
        The activations as a float tensor.

    Raises:
        ValueError: Wrong number of axes or wrong sizes.

    Example:
        >>> check_activations(torch.zeros(4, 2, 8), trailing=(2,)).shape
        torch.Size([4, 2, 8])
    """
    t = as_float_tensor(x, name, dtype)
    layout = "(n, " + "".join(f"{k}, " for k in trailing) + "d_model)"
    if t.ndim != len(trailing) + 2 or tuple(t.shape[1:-1]) != tuple(trailing):
        raise ValueError(f"{name} must have shape {layout}, got {tuple(t.shape)}")
    return t


def check_binary_labels(
    y: Array, n: int, require_both: bool = True, name: str = "y"
) -> Float[Tensor, " n"]:
    """Check labels are 0/1 (1 = true), one per example, and (optionally) hold both classes.

    Args:
        y: Labels.
        n: Expected number of labels (rows of ``X``).
        require_both: Raise if only one class is present (needed for fitting).
        name: Used in error messages.

    Returns:
        The labels as a float64 tensor of 0.0 and 1.0.

    Raises:
        ValueError: Wrong length, values other than 0 and 1, or a single class.

    Example:
        >>> check_binary_labels([0, 1, 1], n=3).tolist()
        [0.0, 1.0, 1.0]
    """
    t = as_float_tensor(y, name).reshape(-1) if _is_vector(y) else _bad_label_shape(y, name)
    if t.numel() != n:
        raise ValueError(
            f"{name} has {t.numel()} labels for {n} examples: pass one label per example"
        )
    values = torch.unique(t)
    if not torch.isin(values, torch.tensor([0.0, 1.0], dtype=t.dtype)).all():
        shown = values[:5].tolist()
        raise ValueError(f"{name} must contain only 0 and 1 (1 = true), got values {shown}")
    if require_both and values.numel() < 2:
        raise ValueError(
            f"{name} has only class {int(values[0])}: the probe needs both classes 0 and 1"
        )
    return t


def check_soft_labels(
    y: Array, n: int, require_both: bool = True, name: str = "y"
) -> Float[Tensor, " n"]:
    """Check soft labels: one value in [0, 1] per example, (optionally) not all equal.

    Args:
        y: Soft (fraction correct) or hard (0/1) labels.
        n: Expected number of labels.
        require_both: Raise if every label is the same (needed for fitting).
        name: Used in error messages.

    Returns:
        The labels as a float64 tensor.

    Raises:
        ValueError: Wrong length, values outside [0, 1], or a constant target.

    Example:
        >>> check_soft_labels([0.2, 1.0], n=2).tolist()
        [0.2, 1.0]
    """
    t = as_float_tensor(y, name).reshape(-1) if _is_vector(y) else _bad_label_shape(y, name)
    if t.numel() != n:
        raise ValueError(
            f"{name} has {t.numel()} labels for {n} examples: pass one label per example"
        )
    if t.min() < 0 or t.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1] (fraction of correct answers), got "
                         f"min {t.min().item():g}, max {t.max().item():g}")
    if require_both and t.min() == t.max():
        raise ValueError(f"{name} is constant ({t[0].item():g}): the head needs examples of both "
                         "classes 0 and 1 (right and wrong answers)")
    return t


def check_width(x: Tensor, d_model: int) -> None:
    """Raise if activations are not as wide as the ones the probe was fit on.

    Args:
        x: Activations with ``d_model`` last.
        d_model: Width seen at fit time.

    Raises:
        ValueError: The widths differ.

    Example:
        >>> check_width(torch.zeros(2, 8), d_model=8)
    """
    if x.shape[-1] != d_model:
        raise ValueError(
            f"probe was fit on d_model={d_model}, got {x.shape[-1]}: use activations from the "
            "same model and layer"
        )


def to_numpy(t: Tensor) -> np.ndarray:
    """Return a float64 numpy copy of a tensor (the output type of every ``predict_proba``)."""
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _is_vector(y: Array) -> bool:
    shape = tuple(y.shape) if hasattr(y, "shape") else np.shape(y)
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def _bad_label_shape(y: Array, name: str) -> Tensor:
    shape = tuple(y.shape) if hasattr(y, "shape") else np.shape(y)
    raise ValueError(f"{name} must be a 1-D array of labels, got shape {shape}")
