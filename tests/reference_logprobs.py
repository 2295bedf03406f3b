"""A reference for continuation scoring: the chain rule on one unpadded forward pass, one row at a time."""

from __future__ import annotations

import torch


def reference_continuation_logprob(model, prompt: str, continuation: str) -> float:
    """log P(continuation | prompt) from one unpadded forward pass of the Hugging Face model."""
    tok = model.tokenizer
    head = tok(prompt, add_special_tokens=True)["input_ids"]
    tail = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = torch.log_softmax(model.engine.hf_model(input_ids=ids).logits[0].double(), dim=-1)
    return float(sum(logp[len(head) + j - 1, t] for j, t in enumerate(tail)))
