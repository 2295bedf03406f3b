"""Inputs that used to pass silently now fail with one line that says what to do."""

from __future__ import annotations

import logging

import pytest
import torch

import veracity as vc
from veracity.hooks import count_hooks


@pytest.mark.parametrize("coefficient", [float("nan"), float("inf"), {1: float("nan")}, {1: -float("inf")}])
def test_non_finite_steering_coefficients_are_refused(tiny, coefficient):
    model = tiny("llama")
    vector = vc.SteeringVector({1: torch.randn(64)})
    with pytest.raises(ValueError, match="is not finite: pass a finite number"):
        with vc.steer(model, vector, coefficient=coefficient):
            pass
    assert count_hooks(model) == 0


def test_non_finite_vector_coefficient_is_refused():
    with pytest.raises(ValueError, match="coefficient must be a finite number, got nan"):
        vc.SteeringVector({1: torch.randn(8)}, coefficient=float("nan"))


@pytest.mark.parametrize("layers", [[3.7], ["3"], [True]])
def test_non_integer_layers_are_refused(tiny, layers):
    with pytest.raises(ValueError, match="is not an integer"):
        vc.extract(tiny("llama"), ["hello world"], layers=layers, progress=False)


@pytest.mark.parametrize("kw", [{"batch_size": 1.5}, {"batch_size": 0}, {"chunk_size": "4"}, {"max_length": 0}])
def test_sizes_must_be_positive_integers(tiny, kw):
    with pytest.raises(ValueError, match="must be a positive integer"):
        vc.extract(tiny("llama"), ["hello world"], layers=[1], progress=False, **kw)


def test_texts_longer_than_the_context_are_refused_or_truncated_with_a_warning(tiny, caplog):
    model = tiny("llama")  # 128 positions
    long = " ".join(["hello world"] * 100)
    with pytest.raises(ValueError, match="more than .* context of 128: shorten it, or pass max_length=128"):
        vc.extract(model, [long], layers=[1], progress=False)
    with caplog.at_level(logging.WARNING, logger="veracity.hooks.extract"):
        cut = vc.extract(model, [long, "hello world"], layers=[1], max_length=128, progress=False)
    assert "truncated 1 of 2 texts to their first 128 tokens" in caplog.text
    first = model.tokenizer(long)["input_ids"][:128]
    torch.testing.assert_close(cut[0], vc.extract(model, [model.tokenizer.decode(first)], layers=[1],
                                                  progress=False)[0])


def test_count_hooks_counts_only_veracitys_own(tiny):
    model = tiny("llama", "transformer_lens")
    vc.extract(model, ["hello world"], layers=[1], progress=False)  # the bridge adds hooks of its own lazily
    assert count_hooks(model) == 0
    vector = vc.SteeringVector({1: torch.randn(64), 2: torch.randn(64)})
    with vc.steer(model, vector, coefficient=1.0):
        assert count_hooks(model) == 3  # two layers and the call observer
    assert count_hooks(model) == 0
