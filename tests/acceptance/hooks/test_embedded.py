"""Acceptance: the embedded SmolLM2-135M-Instruct, offline, on every backend."""

import pytest
import torch

from veracity.data import load_statements
from veracity.hooks import extract, extract_cached, load_model

pytestmark = pytest.mark.slow

TEXTS = [
    "The city of Paris is in France.",
    "Hi",
    "The capital of Japan is Tokyo, a city of many millions of people and a great many trains.",
    "Two plus two is four.",
]


def test_embedded_model_shape_and_knowledge(embedded):
    assert (embedded.n_layers, embedded.d_model) == (30, 576)
    prompt = embedded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    ids = embedded.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = embedded.hf_model.generate(**ids, max_new_tokens=10, do_sample=False)
    assert "Paris" in embedded.tokenizer.decode(out[0, ids.input_ids.shape[1]:])


@pytest.mark.parametrize("backend", ["hf", "transformer_lens", "nnsight"])
def test_all_layers_equal_hf_hidden_states(backend):
    model = load_model("smollm2-135m", backend=backend, device="cpu")
    acts = extract(model, TEXTS, layers="all", batch_size=4, progress=False)
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = model.hf_model(**enc, output_hidden_states=True).hidden_states
    last = enc.attention_mask.sum(1) - 1
    rows = torch.arange(len(TEXTS))
    expected = torch.stack([hidden[layer + 1][rows, last] for layer in range(29)], dim=1)
    torch.testing.assert_close(acts[:, :29], expected)
    with torch.no_grad():
        torch.testing.assert_close(model.hf_model.model.norm(acts[:, 29]), hidden[30][rows, last])


def test_unbatched_extraction_is_bit_exact(embedded):
    for text in TEXTS[:2]:
        enc = embedded.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = embedded.hf_model(**enc, output_hidden_states=True).hidden_states
        acts = extract(embedded, [text], layers=[0, 14, 28], progress=False)
        assert torch.equal(acts[0], torch.stack([hidden[1][0, -1], hidden[15][0, -1], hidden[29][0, -1]]))


def test_builtin_cities_extract_and_cache(embedded, tmp_path):
    cities = load_statements("cities").sample(24, seed=0)
    acts = extract_cached(embedded, cities.statements, layers=[10, 15], cache_dir=tmp_path, progress=False)
    again = extract_cached(embedded, cities.statements, layers=[10, 15], cache_dir=tmp_path, progress=False)
    assert acts.shape == (24, 2, 576) and torch.isfinite(acts).all()
    assert torch.equal(acts, again)
