"""Next-token probabilities from the model itself (P(True), answer scoring).

These read the model's output distribution rather than its residual stream; they are used for
P(True) (Kadavath et al. 2022) and for grading answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from veracity.hooks.extract import apply_template, right_pad, tokenize
from veracity.hooks.model import VeracityModel

__all__ = ["continuation_logprobs", "next_token_logprobs", "token_probability"]


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
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)  # batches of similar length
    out = torch.empty(0)
    for start in range(0, len(rows), batch_size):
        chosen = order[start: start + batch_size]
        input_ids, mask = right_pad([rows[i] for i in chosen], model.tokenizer.pad_token_id, model.device)
        with torch.no_grad():
            last = model.engine.last_logits(input_ids, mask)
        if not out.numel():
            out = torch.empty(len(rows), last.shape[-1])
        out[torch.tensor(chosen)] = torch.log_softmax(last.float(), dim=-1).cpu()
    return out


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


def continuation_logprobs(
    model: VeracityModel, prompts: Sequence[str], continuations: Sequence[str], batch_size: int = 16,
    progress: bool = True,
) -> tuple[Float[Tensor, " n"], Tensor]:
    """Log-probability the model gives each continuation after its prompt, summed over its tokens.

    The prompt is tokenised as :func:`veracity.hooks.extract` tokenises a text (special tokens
    included); the continuation is tokenised on its own (no special tokens) and appended, so the
    prompt's tokens never change with the continuation. Put the separating space in the
    continuation (``" Paris"``), as multiple-choice scoring does. Rows that share a prompt share
    one pass over it (its KV cache is reused for up to ``batch_size`` continuations at once), so
    scoring many answers to one question costs little more than the answers themselves.

    Args:
        model: A loaded model (any backend; active steering applies).
        prompts: One prompt per row (repeat a prompt for several continuations).
        continuations: One non-empty continuation per row.
        batch_size: Continuations per forward pass.
        progress: Show a progress bar (one step per distinct prompt).

    Returns:
        ``(logprob, n_tokens)``: the summed float64 log-probability per row, in the caller's order,
        and its token count.

    Example:
        >>> lp, n = continuation_logprobs(model, ["Q: Capital of France?\nA:"] * 2, [" Paris", " Lyon"])
    """
    prompts, continuations = apply_template(prompts, None), apply_template(continuations, None)
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations: give one per prompt")
    tails = model.tokenizer(list(continuations), add_special_tokens=False)["input_ids"]
    for i, tail in enumerate(tails):
        if not tail:
            raise ValueError(f"continuation {i} ({continuations[i]!r}) tokenises to nothing: pass non-empty text")
    by_prompt: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_prompt.setdefault(prompt, []).append(i)
    heads = dict(zip(by_prompt, tokenize(model, list(by_prompt))))
    total = torch.zeros(len(prompts), dtype=torch.float64)
    for prompt, rows in tqdm(by_prompt.items(), desc="score", unit="prompt", disable=not progress, leave=False):
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            total[chunk] = _score_after(model, heads[prompt], [tails[i] for i in chunk])
    return total, torch.tensor([len(t) for t in tails])


def _score_after(model: VeracityModel, head: list[int], tails: list[list[int]]) -> Float[Tensor, " k"]:
    """Summed log-probabilities of ``tails`` after ``head``: one pass over ``head``, its cache shared."""
    device, k = model.device, len(tails)
    with torch.no_grad():
        ids = torch.tensor([head], device=device)
        first, cache = model.engine.step(ids, torch.ones_like(ids), torch.arange(len(head), device=device)[None])
        cache.batch_repeat_interleave(k)
        tail_ids, tail_mask = right_pad(tails, model.tokenizer.pad_token_id, device)
        mask = torch.cat([torch.ones(k, len(head), dtype=tail_mask.dtype, device=device), tail_mask], dim=1)
        positions = (len(head) + torch.arange(tail_ids.shape[1], device=device)).expand(k, -1)
        logits, _ = model.engine.step(tail_ids, mask, positions, cache, all_logits=True)
    # the first continuation token is predicted at the prompt's last position, the rest inside the tail
    predicting = torch.cat([first.expand(k, -1)[:, None], logits[:, :-1]], dim=1)
    predicting = predicting.float()
    logp = predicting.gather(2, tail_ids[..., None])[..., 0] - predicting.logsumexp(dim=-1)
    return (logp.double() * tail_mask).sum(1).cpu()
