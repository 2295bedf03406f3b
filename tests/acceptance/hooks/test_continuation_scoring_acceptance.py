"""continuation_logprobs, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/hooks/test_continuation_scoring.py)."""

from __future__ import annotations

import pytest
import torch
from reference_logprobs import reference_continuation_logprob

from veracity.hooks import continuation_logprobs


@pytest.mark.slow
def test_embedded_model_prefers_the_true_continuation(embedded):
    prompts = ["The capital of France is", "Two plus two equals", "Water freezes at zero degrees"]
    right, wrong = [" Paris", " four", " Celsius"], [" Berlin", " seven", " Fahrenheit"]
    good = continuation_logprobs(embedded, prompts, right, progress=False)[0]
    bad = continuation_logprobs(embedded, prompts, wrong, progress=False)[0]
    assert (good > bad).all()
    reference = torch.tensor([reference_continuation_logprob(embedded, p, c) for p, c in zip(prompts, right)], dtype=torch.float64)
    torch.testing.assert_close(good, reference, atol=1e-3, rtol=1e-4)
