"""The residual stream at every answer token of each dialogue (and nowhere else)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from veracity.hooks.extract import fit_context, right_pad, run_layers
from veracity.hooks.model import VeracityModel
from veracity.monitors.dialogue import Dialogue, answer_tokens

__all__ = ["answer_activations"]


def answer_activations(model: VeracityModel, dialogues: Sequence[Dialogue], layers: Sequence[int],
                       batch_size: int = 16) -> list[Float[Tensor, "token layer d_model"]]:
    """One tensor per dialogue: the residual stream after each of ``layers`` at each answer token.

    Args:
        model: From :func:`veracity.hooks.load_model`.
        dialogues: The dialogues to read.
        layers: Block indices (already resolved: 0 .. n_layers - 1).
        batch_size: Dialogues per forward pass (grouped by length, longest first).

    Returns:
        Float32 CPU tensors ``(answer tokens, len(layers), d_model)``, in the dialogues' order.

    Example:
        >>> acts = answer_activations(model, [Dialogue.ask("2 + 2?", "4.")], layers=[12])
        >>> acts[0].shape  # (tokens of "4.", 1, 576)
    """
    rows = answer_tokens(model, dialogues)
    fit_context(model, [ids for ids, _ in rows], None)
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
            out[i] = hidden[j, begin:len(ids)].to("cpu", torch.float32)
        bar.update(len(batch))
    bar.close()
    return out
