"""continuation_logprobs: the summed log-probability of a continuation equals the chain rule on the
model's own logits, one row at a time, on every backend; batching and order change nothing."""

from __future__ import annotations

import pytest
import torch
from reference_logprobs import reference_continuation_logprob

from veracity.hooks import continuation_logprobs
from veracity.hooks.backends import BACKENDS
from veracity.steering import SteeringVector, steer

PROMPTS = ["question : the city of paris is in", "question : tokyo is in", "hello world it is", "one two"]
CONTINUATIONS = [" france", " japan .", " true", " three four five six seven"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_equals_chain_rule_on_every_backend(tiny, backend):
    model = tiny("llama", backend)
    got, n_tokens = continuation_logprobs(model, PROMPTS, CONTINUATIONS, batch_size=3)
    reference = torch.tensor([reference_continuation_logprob(model, p, c) for p, c in zip(PROMPTS, CONTINUATIONS)], dtype=torch.float64)
    torch.testing.assert_close(got, reference, atol=1e-4, rtol=1e-5)
    assert n_tokens.tolist() == [1, 2, 1, 5]
    assert (got < 0).all()


def test_shared_prompts_batching_and_order_change_nothing(tiny):
    model = tiny("gpt2")
    shared = continuation_logprobs(model, [PROMPTS[0]] * 4, CONTINUATIONS, batch_size=3)[0]
    alone = torch.cat([continuation_logprobs(model, [PROMPTS[0]], [c])[0] for c in CONTINUATIONS])
    torch.testing.assert_close(shared, alone, atol=1e-5, rtol=1e-5)
    one_by_one = torch.cat([continuation_logprobs(model, [p], [c])[0] for p, c in zip(PROMPTS, CONTINUATIONS)])
    reversed_rows = continuation_logprobs(model, PROMPTS[::-1], CONTINUATIONS[::-1], batch_size=2)[0].flip(0)
    torch.testing.assert_close(reversed_rows, one_by_one, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_steering_applies_to_prompt_and_continuation(tiny, backend):
    model = tiny("llama", backend)
    vector = SteeringVector({1: torch.randn(model.d_model)}, model_id=model.model_id)
    plain = continuation_logprobs(model, PROMPTS, CONTINUATIONS)[0]
    with steer(model, vector, coefficient=4.0):
        steered = continuation_logprobs(model, PROMPTS, CONTINUATIONS, batch_size=1)[0]
        reference = [reference_continuation_logprob(model, p, c) for p, c in zip(PROMPTS, CONTINUATIONS)]  # steered full pass
    torch.testing.assert_close(steered, torch.tensor(reference, dtype=torch.float64), atol=1e-4, rtol=1e-5)
    assert not torch.allclose(plain, steered)
    torch.testing.assert_close(continuation_logprobs(model, PROMPTS, CONTINUATIONS)[0], plain)


def test_bad_input_is_one_clear_error(tiny):
    model = tiny("llama")
    with pytest.raises(ValueError, match="2 prompts but 1 continuations"):
        continuation_logprobs(model, PROMPTS[:2], CONTINUATIONS[:1])
    with pytest.raises(ValueError, match="tokenises to nothing"):
        continuation_logprobs(model, PROMPTS[:1], [""])
