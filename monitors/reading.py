"""The residual stream at every answer token of each dialogue (and nowhere else)."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from veracity.hooks.extract import fit_context, right_pad, run_layers
from veracity.hooks.model import VeracityModel
from veracity.monitors.dialogue import Dialogue, answer_tokens

__all__ = ["answer_activations", "remembered", "remembered_reads"]

_memo: dict | None = None


@contextmanager
def remembered_reads() -> Iterator[None]:
    """Inside the block, :func:`answer_activations` reads each dialogue at each layer once per model (and
    :func:`remembered` computes each value once).

    Fitting, validating, calibrating and scoring several monitors on the same dialogues then costs one
    forward pass per dialogue (for layers not yet read) instead of one per monitor and call. Reads are
    keyed by the model object, its active steering and the dialogue's tokens; change no weights inside the
    block. Nested blocks share the outer one's reads; everything is dropped when the outermost exits.

    Example:
        >>> with remembered_reads():
        ...     for monitor in monitors:
        ...         monitor.calibrate(model, controls)
    """
    global _memo
    outer = _memo is not None
    if not outer:
        _memo = {}
    try:
        yield
    finally:
        if not outer:
            _memo = None


def remembered(model: VeracityModel, kind: str, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence]
               ) -> list:
    """Values of ``keys`` (one per dialogue, say its tokens) that ``compute(positions)`` gives for the positions asked;
    inside :func:`remembered_reads` each key of each ``kind`` is computed once per model and its active steering.

    Example:
        >>> remembered(model, "surprise", [tuple(ids) for ids in rows], lambda todo: [work(rows[i]) for i in todo])
    """
    if _memo is None:
        return list(compute(list(range(len(keys)))))
    _, seen = _memo.setdefault(id(model), (model, {}))
    steering = json.dumps(model.engine.steering, sort_keys=True)
    full = [(kind, steering, key) for key in keys]
    missing = sorted({i for i, key in enumerate(full) if key not in seen})
    for i, value in zip(missing, compute(missing), strict=True):
        seen.setdefault(full[i], value)
    return [seen[key] for key in full]


def answer_activations(model: VeracityModel, dialogues: Sequence[Dialogue], layers: Sequence[int],
                       batch_size: int = 16, prompt_token: bool = False) -> list[Float[Tensor, "token layer d_model"]]:
    """One tensor per dialogue: the residual stream after each of ``layers`` at each answer token.

    Args:
        model: From :func:`veracity.hooks.load_model`.
        dialogues: The dialogues to read.
        layers: Block indices (already resolved: 0 .. n_layers - 1).
        batch_size: Dialogues per forward pass (grouped by length, longest first).
        prompt_token: Also the prompt's last token (the one before the answer), as the first row.

    Returns:
        Float32 CPU tensors ``(answer tokens, len(layers), d_model)`` (one more row first with
        ``prompt_token``), in the dialogues' order.

    Example:
        >>> acts = answer_activations(model, [Dialogue.ask("2 + 2?", "4.")], layers=[12])
        >>> acts[0].shape  # (tokens of "4.", 1, 576)
    """
    rows = answer_tokens(model, dialogues)
    fit_context(model, [ids for ids, _ in rows], None)
    layers, first = list(layers), 0 if prompt_token else 1  # reads start at the prompt's last token
    if _memo is None:
        return [hidden[first:] for hidden in _read(model, rows, layers, batch_size)]
    _, seen = _memo.setdefault(id(model), (model, {}))  # the model is held, so its id is never reused meanwhile
    steering = json.dumps(model.engine.steering, sort_keys=True)
    keys = [(steering, tuple(ids), begin) for ids, begin in rows]
    missing = sorted({i for i, key in enumerate(keys) for layer in layers if (key, layer) not in seen})
    for i, hidden in zip(missing, _read(model, [rows[i] for i in missing], layers, batch_size), strict=True):
        for j, layer in enumerate(layers):
            seen.setdefault((keys[i], layer), hidden[:, j].clone())
    return [torch.stack([seen[(key, layer)][first:] for layer in layers], dim=1) for key in keys]


def _read(model: VeracityModel, rows: list[tuple[list[int], int]], layers: list[int],
          batch_size: int) -> list[Tensor]:
    """One forward pass per batch of ``rows`` (token ids, first answer token): the prompt's last token and the
    answer tokens at ``layers``."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out: list[Tensor | None] = [None] * len(rows)
    bar = tqdm(total=len(rows), desc="answer tokens", unit="dialogue", leave=False, disable=len(rows) <= 64)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        input_ids, mask = right_pad([rows[i][0] for i in batch], model.tokenizer.pad_token_id, model.device)
        store = run_layers(model, input_ids, mask, list(layers))
        hidden = torch.stack([store[layer] for layer in layers], dim=2)  # (batch, pos, layer, d_model)
        for j, i in enumerate(batch):
            ids, begin = rows[i]
            out[i] = hidden[j, begin - 1:len(ids)].to("cpu", torch.float32)
        bar.update(len(batch))
    bar.close()
    return out
