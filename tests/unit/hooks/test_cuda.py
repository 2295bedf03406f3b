"""The GPU paths, on a CUDA GPU (skipped with a reason where torch sees none; CI has none).

A tiny Llama in bfloat16 on ``cuda``: ``extract`` equals the blocks' own outputs on every backend and
returns CPU tensors in the dtype asked for; ``steer`` adds ``c * v`` in the model's dtype; probes fit
on the GPU (``device="cuda"``) give the CPU fit, in memory and from an on-disk view.
``python -m benchmarks.real_size`` is the GPU benchmark; ``benchmarks/gpu.sh`` runs both in one go.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import WORDS, block_outputs, build_tiny, build_word_tokenizer, residual_at

import veracity as vc
from veracity.probes import LogisticProbe, PIKHead

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none here)")

TEXTS = ["the city of paris is in france", "hello world", "tokyo is in japan and it is a city"]


def cuda_model(backend: str):
    tokenizer = build_word_tokenizer()
    hf_model = build_tiny("llama", len(tokenizer)).to("cuda", torch.bfloat16)
    return vc.from_hf(hf_model, tokenizer, backend=backend, model_id="tiny-cuda")


@pytest.mark.parametrize("backend", ["hf", "transformer_lens", "nnsight"])
def test_extract_on_cuda_equals_the_blocks(backend):
    model = cuda_model(backend)
    assert model.device.type == "cuda" and model.dtype == torch.bfloat16
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True).to("cuda")
    blocks = block_outputs(model, enc)
    last = blocks[torch.arange(len(TEXTS)), :, enc["attention_mask"].sum(1) - 1]
    for asked in (torch.bfloat16, torch.float32):
        acts = vc.extract(model, TEXTS, layers="all", dtype=asked, batch_size=2, progress=False)
        assert acts.device.type == "cpu" and acts.dtype == asked
        if backend == "transformer_lens":  # the bridge's own arithmetic (docs/results.md: up to 4e-4 in float32)
            torch.testing.assert_close(acts, last.cpu().to(asked), rtol=2e-2, atol=2e-2)
        else:
            assert torch.equal(acts, last.cpu().to(asked))


@pytest.mark.parametrize("backend", ["hf", "nnsight"])
def test_steering_on_cuda_adds_the_vector_in_bfloat16(backend):
    model = cuda_model(backend)
    vector = vc.SteeringVector({1: torch.randn(64)}, n_layers=4)
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True).to("cuda")
    plain = residual_at(model, enc, 1)
    with vc.steer(model, vector, coefficient=1.5):
        shifted = residual_at(model, enc, 1)
    real = enc["attention_mask"].bool()
    assert shifted.dtype == torch.bfloat16
    assert torch.equal(shifted[real], plain[real] + (1.5 * vector[1]).to("cuda", torch.bfloat16))


@pytest.mark.parametrize("make", [lambda d: LogisticProbe(C=0.5, device=d),
                                  lambda d: PIKHead(device=d),
                                  lambda d: PIKHead(hidden=8, n_epochs=40, device=d)])
def test_probes_fit_on_the_gpu_like_on_the_cpu(make, tmp_path):
    tokenizer = build_word_tokenizer()
    model = vc.from_hf(build_tiny("llama", len(tokenizer)), tokenizer, model_id="tiny-llama")
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[:40], size=rng.integers(3, 9))) for _ in range(90)]
    view = vc.extract_cached(model, texts, layers=[2], out=tmp_path / "acts", chunk_size=16, assemble=False,
                      progress=False).layer(2)
    x = view.to_tensor()
    score = x.double().numpy() @ rng.normal(size=x.shape[1])
    y = (score > np.median(score)).astype(int)
    on_cpu, on_gpu, from_view = make("cpu").fit(x, y), make("cuda").fit(x, y), make("cuda").fit(view, y)
    assert on_gpu.direction_.device.type == "cpu"
    for fitted in (on_gpu, from_view):
        np.testing.assert_allclose(fitted.decision_function(x), on_cpu.decision_function(x), rtol=1e-4, atol=1e-4)
