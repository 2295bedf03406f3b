"""One adapter per backend: scoring, generation, KV-cache decoding, extraction and extraction inside
steer() give the same results through Hugging Face, TransformerLens and nnsight."""

from __future__ import annotations

import pytest
import torch

from veracity.hooks import extract, next_token_logprobs
from veracity.hooks.backends import BACKENDS
from veracity.hooks.generation import greedy_and_samples
from veracity.hooks.model import from_hf
from veracity.steering import SteeringVector, steer

TEXTS = ["the city of paris is in france .", "hello world", "tokyo is in japan", "one two three four five six"]


@pytest.fixture(scope="module")
def results():
    return {}


def _everything(model):
    """Every computation veracity routes through a backend, on one model."""
    gen = torch.Generator().manual_seed(0)
    vector = SteeringVector({1: torch.randn(model.d_model, generator=gen)}, model_id=model.model_id)
    enc = model.tokenizer(TEXTS[:2], return_tensors="pt", padding=True)
    with steer(model, vector, coefficient=2.0):
        steered = extract(model, TEXTS, layers=[0, 1, 3], progress=False)
    greedy, _ = greedy_and_samples(model, TEXTS[:2], k=0, max_new_tokens=4, progress=False)
    return {
        "logprobs": next_token_logprobs(model, TEXTS),
        "acts": extract(model, TEXTS, layers=[0, 1, 3], progress=False),
        "steered": steered,
        "shift": 2.0 * vector[1],
        "generate": model.engine.generate(enc["input_ids"][:1], enc["attention_mask"][:1], max_new_tokens=4,
                                           do_sample=False, pad_token_id=model.tokenizer.pad_token_id),
        "kv_greedy": greedy,
    }


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_every_backend_computes_the_same(tiny, arch):
    out = {backend: _everything(tiny(arch, backend)) for backend in BACKENDS}
    ref = out["hf"]
    # Extraction inside steer(): the steered layer moves by exactly c * v, earlier layers not at all.
    torch.testing.assert_close(ref["steered"][:, 1] - ref["acts"][:, 1], ref["shift"].expand(len(TEXTS), -1))
    assert torch.equal(ref["steered"][:, 0], ref["acts"][:, 0])
    for backend in ("transformer_lens", "nnsight"):
        got = out[backend]
        torch.testing.assert_close(got["logprobs"], ref["logprobs"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got["acts"], ref["acts"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got["steered"], ref["steered"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got["steered"][:, 1] - got["acts"][:, 1], ref["shift"].expand(len(TEXTS), -1),
                                   atol=1e-4, rtol=1e-4)
        assert torch.equal(got["generate"].cpu(), ref["generate"].cpu()), backend
        assert got["kv_greedy"] == ref["kv_greedy"], backend


def _tiny_family(family: str, vocab_size: int):
    import transformers as tf

    small = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": vocab_size, "max_position_embeddings": 128,
             "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2}
    torch.manual_seed(0)
    if family == "gpt2":
        return tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=4, n_positions=128,
                                                    bos_token_id=2, eos_token_id=2))
    if family == "gpt_neox":
        return tf.GPTNeoXForCausalLM(tf.GPTNeoXConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128,
                                                      num_hidden_layers=2, num_attention_heads=4,
                                                      max_position_embeddings=128, pad_token_id=1,
                                                      bos_token_id=2, eos_token_id=2))
    config_class, model_class = {"mistral": (tf.MistralConfig, tf.MistralForCausalLM),
                                 "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
                                 "phi3": (tf.Phi3Config, tf.Phi3ForCausalLM)}[family]
    return model_class(config_class(**small))


@pytest.mark.parametrize("family", ["mistral", "qwen2", "phi3", "gpt2", "gpt_neox"])
def test_wrapping_a_model_in_memory_never_needs_the_hub(family, word_tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_model = _tiny_family(family, len(word_tokenizer)).eval()
    ref = extract(from_hf(hf_model, word_tokenizer), TEXTS, layers=[0, 1], progress=False)
    bridged = from_hf(hf_model, word_tokenizer, backend="transformer_lens", model_id=f"tiny-{family}")
    torch.testing.assert_close(extract(bridged, TEXTS, layers=[0, 1], progress=False), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_next_token_logprobs_equal_the_full_forward_at_each_last_token(tiny, arch, backend):
    """Length-sorted batches and the LM head at the last tokens only give each prompt's own row, in order."""
    model = tiny(arch, backend=backend)
    prompts = ["hello", "the city of paris is in france", "tokyo is in", "one two three four five six", "world"]
    got = next_token_logprobs(model, prompts, batch_size=2)
    for i, prompt in enumerate(prompts):
        enc = model.tokenizer([prompt], return_tensors="pt")
        with torch.no_grad():
            full = model.hf_model(**enc).logits[0, -1]
        torch.testing.assert_close(got[i], torch.log_softmax(full.float(), dim=-1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tail_logits_are_the_full_logits_from_a_position_on(tiny, backend):
    """The LM head on the tail positions only (Hugging Face's logits_to_keep) gives the same rows as every position."""
    model = tiny("llama", backend=backend)
    enc = model.tokenizer(["the city of paris is in france", "tokyo is in"], return_tensors="pt", padding=True)
    with torch.no_grad():
        full = model.engine.logits(enc["input_ids"], enc["attention_mask"])
        for start in (0, 3, enc["input_ids"].shape[1] - 1):
            tail = model.engine.tail_logits(enc["input_ids"], enc["attention_mask"], start)
            torch.testing.assert_close(tail, full[:, start:], atol=1e-5, rtol=1e-5)
