"""Dtypes as on a GPU, checked on CPU: bfloat16 models, activations in the dtype asked for, probes that
fit in float32/float64 whatever they are given, and steering added in the model's dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import build_tiny, build_word_tokenizer, residual_at

import veracity as vc
from veracity.hooks.model import _resolve_dtype
from veracity.probes import CCS, LogisticProbe, MassMeanProbe, PIKHead

TEXTS = ["the city of paris is in france", "hello world", "tokyo is in japan"]


@pytest.fixture
def bf16_model():
    tokenizer = build_word_tokenizer()
    return vc.from_hf(build_tiny("llama", len(tokenizer)).to(torch.bfloat16), tokenizer, model_id="tiny-bf16")


def test_default_compute_dtype_is_bfloat16_on_cuda_and_float32_on_cpu():
    assert _resolve_dtype(None, "cuda") == torch.bfloat16
    assert _resolve_dtype(None, "cuda:1") == torch.bfloat16
    assert _resolve_dtype(None, "cpu") == torch.float32
    assert _resolve_dtype("float16", "cuda") == torch.float16


def test_activations_come_back_in_the_dtype_asked_for(bf16_model):
    enc = bf16_model.tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = bf16_model.hf_model(**enc, output_hidden_states=True).hidden_states
    last = enc["attention_mask"].sum(1) - 1
    block1 = hidden[2][torch.arange(3), last]  # bfloat16, the model's own
    for asked in (torch.float32, torch.bfloat16, "float16", torch.float64):
        acts = vc.extract(bf16_model, TEXTS, layers=[1], dtype=asked, progress=False)
        want = asked if isinstance(asked, torch.dtype) else getattr(torch, asked)
        assert acts.dtype == want
        assert torch.equal(acts[:, 0], block1.to(want))  # bfloat16 values are exact in every wider dtype


@pytest.mark.parametrize("make", [LogisticProbe, MassMeanProbe, lambda: PIKHead(n_epochs=50)])
def test_probes_fit_in_full_precision_whatever_the_activations_dtype(make):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(60, 16)).astype(np.float32)).to(torch.bfloat16)
    y = (x[:, 0].float() > 0).long().numpy()
    from_bf16 = make().fit(x, y)
    from_f32 = make().fit(x.float(), y)
    assert from_bf16.direction_.dtype == torch.float32
    np.testing.assert_array_equal(from_bf16.decision_function(x), from_f32.decision_function(x.float()))
    assert from_bf16.decision_function(x).dtype == np.float64


def test_ccs_fits_bfloat16_pairs_like_their_float32_copy():
    rng = np.random.default_rng(1)
    pairs = torch.from_numpy(rng.normal(size=(40, 2, 8)).astype(np.float32)).to(torch.bfloat16)
    a = CCS(n_restarts=2, n_epochs=30).fit(pairs)
    b = CCS(n_restarts=2, n_epochs=30).fit(pairs.float())
    torch.testing.assert_close(a.direction_, b.direction_)


def test_steering_adds_the_vector_in_the_models_dtype(bf16_model):
    vector = vc.SteeringVector({1: torch.randn(64)}, n_layers=4)
    enc = bf16_model.tokenizer(TEXTS, return_tensors="pt", padding=True)

    plain = residual_at(bf16_model, enc, 1)
    with vc.steer(bf16_model, vector, coefficient=1.5):
        shifted = residual_at(bf16_model, enc, 1)
    assert shifted.dtype == torch.bfloat16 and vector[1].dtype == torch.float32
    real = enc["attention_mask"].bool()  # padding positions are not steered
    assert torch.equal(shifted[real], plain[real] + (1.5 * vector[1]).to(torch.bfloat16))
