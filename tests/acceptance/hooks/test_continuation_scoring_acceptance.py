"""continuation_logprobs: the summed log-probability of a continuation equals the chain rule on the
model's own logits, one row at a time, on every backend; batching and order change nothing."""

from __future__ import annotations

import pytest
import torch

from veracity.hooks import continuation_logprobs

PROMPTS = ["question : the city of paris is in", "question : tokyo is in", "hello world it is", "one two"]
CONTINUATIONS = [" france", " japan .", " true", " three four five six seven"]


def _reference(model, prompt: str, continuation: str) -> float:
    """log P(continuation | prompt) from one unpadded forward pass of the Hugging Face model."""
    tok = model.tokenizer
    head = tok(prompt, add_special_tokens=True)["input_ids"]
    tail = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = torch.log_softmax(model.engine.hf_model(input_ids=ids).logits[0].double(), dim=-1)
    return float(sum(logp[len(head) + j - 1, t] for j, t in enumerate(tail)))


@pytest.mark.slow
def test_embedded_model_prefers_the_true_continuation(embedded):
    prompts = ["The capital of France is", "Two plus two equals", "Water freezes at zero degrees"]
    right, wrong = [" Paris", " four", " Celsius"], [" Berlin", " seven", " Fahrenheit"]
    good = continuation_logprobs(embedded, prompts, right, progress=False)[0]
    bad = continuation_logprobs(embedded, prompts, wrong, progress=False)[0]
    assert (good > bad).all()
    reference = torch.tensor([_reference(embedded, p, c) for p, c in zip(prompts, right)], dtype=torch.float64)
    torch.testing.assert_close(good, reference, atol=1e-3, rtol=1e-4)
