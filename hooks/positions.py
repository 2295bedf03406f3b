"""Pick one vector per text from a padded batch: last, first, mean, or an index.

Batches are right-padded, so real tokens sit at positions ``0 .. length - 1`` and padding never
enters a result: ``"last"`` is the last real token, ``"mean"`` averages real tokens only, and
negative indices count back from the last real token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

NAMED_POSITIONS = ("last", "first", "mean")


def check_position(position, n_texts: int):
    """Validate a position spec; a per-text sequence must have one entry per text.

    Returns:
        The spec, with a per-text sequence turned into a list of ints.
    """
    if isinstance(position, str):
        if position not in NAMED_POSITIONS:
            raise ValueError(f"unknown position {position!r}: use 'last', 'first', 'mean', an int, or one int per text")
        return position
    if isinstance(position, int):
        return position
    if isinstance(position, (Sequence, Tensor)):
        indices = [int(i) for i in position]
        if len(indices) != n_texts:
            raise ValueError(f"per-text positions need one index per text: got {len(indices)} for {n_texts} texts")
        return indices
    raise ValueError(f"position must be 'last', 'first', 'mean', an int or a list of ints, got {type(position).__name__}")


def token_indices(position, lengths: Int[Tensor, " batch"], per_text: list[int] | None = None) -> Int[Tensor, " batch"]:
    """Absolute token index per row for an int / named / per-text position.

    Args:
        position: ``"last"``, ``"first"``, or an int (negative counts back from the last real token).
        lengths: Real (unpadded) length of each row.
        per_text: One index per row instead of ``position``.

    Returns:
        Index per row, checked to lie inside the real tokens.
    """
    if per_text is not None:
        wanted = torch.tensor(per_text, device=lengths.device)
    elif position == "last":
        wanted = torch.full_like(lengths, -1)
    elif position == "first":
        wanted = torch.zeros_like(lengths)
    else:
        wanted = torch.full_like(lengths, int(position))
    absolute = torch.where(wanted < 0, lengths + wanted, wanted)
    bad = (absolute < 0) | (absolute >= lengths)
    if bad.any():
        row = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"position {int(wanted[row])} is outside a text of {int(lengths[row])} tokens; "
            "use an index within every text, or 'last'"
        )
    return absolute


def pool_plan(attention_mask: Int[Tensor, "batch pos"], position, per_text: list[int] | None = None) -> tuple:
    """How a batch is reduced to one vector per row, as tensors alone (checked here, applied where the model runs).

    Returns:
        ``("mean", weights (batch, pos, 1) float32, lengths (batch, 1) float32)`` or
        ``("index", rows, token index per row)``.
    """
    lengths = attention_mask.sum(dim=1)
    if position == "mean" and per_text is None:
        return "mean", attention_mask.to(torch.float32).unsqueeze(-1), lengths.unsqueeze(-1).to(torch.float32)
    return "index", torch.arange(len(lengths), device=lengths.device), token_indices(position, lengths, per_text)


def apply_plan(hidden: Float[Tensor, "batch pos d_model"], plan: tuple) -> Float[Tensor, "batch d_model"]:
    """One vector per row of ``hidden``, reduced as :func:`pool_plan` said."""
    kind, a, b = plan
    if kind == "mean":
        return (hidden.float() * a.to(hidden.device)).sum(dim=1) / b.to(hidden.device)
    return hidden[a.to(hidden.device), b.to(hidden.device)]

