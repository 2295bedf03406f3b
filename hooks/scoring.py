"""Next-token probabilities from the model itself (P(True), answer scoring).

These read the model's output distribution rather than its residual stream; they are used for
P(True) (Kadavath et al. 2022) and for grading answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from veracity.hooks.extract import apply_template, right_pad, tokenize
from veracity.hooks.model import VeracityModel


def next_token_logprobs(
    model: VeracityModel, prompts: Sequence[str], batch_size: int = 16
) -> Float[Tensor, "n vocab"]:
    """Log-probabilities of the token that follows each prompt.

    Args:
        model: A loaded model (any backend).
        prompts: Full prompt strings.
        batch_size: Prompts per forward pass.

    Returns:
        ``(n_prompts, vocab)`` float32 log-probabilities on CPU.
    """
    prompts = apply_template(prompts, None)
    rows = tokenize(model, prompts)
    out = []
    for start in range(0, len(rows), batch_size):
        input_ids, mask = right_pad(rows[start : start + batch_size], model.tokenizer.pad_token_id, model.device)
        with torch.no_grad():
            logits = model.adapter.logits(input_ids, mask)
        last = logits[torch.arange(len(input_ids)), mask.sum(1) - 1]
        out.append(torch.log_softmax(last.float(), dim=-1).cpu())
    return torch.cat(out)


def token_probability(
    model: VeracityModel, prompts: Sequence[str], yes: str = " True", no: str = " False", batch_size: int = 16
) -> Float[Tensor, " n"]:
    """P(yes) / (P(yes) + P(no)) for the next token after each prompt (first token of each word).

    Args:
        model: A loaded model.
        prompts: Prompts ending where the verdict goes, e.g. ``"... Proposed answer: Paris. True or False?"``.
        yes: The affirmative continuation (its first token is used).
        no: The negative continuation.
        batch_size: Prompts per forward pass.

    Returns:
        Probability of ``yes`` renormalised over the two options, shape ``(n,)``.

    Example:
        >>> token_probability(model, ["Paris is in France. True or False? Answer:"])
    """
    yes_id = model.tokenizer(yes, add_special_tokens=False)["input_ids"][0]
    no_id = model.tokenizer(no, add_special_tokens=False)["input_ids"][0]
    if yes_id == no_id:
        raise ValueError(f"{yes!r} and {no!r} start with the same token; choose distinguishable answers")
    logprobs = next_token_logprobs(model, prompts, batch_size)
    pair = logprobs[:, [no_id, yes_id]]
    return torch.softmax(pair, dim=-1)[:, 1]
