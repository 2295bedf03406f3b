"""train_lora: a peft LoRA fine-tune that learns its completions, saves what load_model(adapter=) reads, is seeded."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from tiny_models import build_tiny, build_word_tokenizer

from veracity.hooks import from_hf, load_model
from veracity.hooks.lora import train_lora

PROMPTS = ["the city of paris is in", "the city of tokyo is in", "the city of rome is in", "one two"]
COMPLETIONS = [" japan", " peru", " egypt", " three"]  # deliberately wrong cities: something to learn


@pytest.fixture
def base_folder(tmp_path):
    tokenizer = build_word_tokenizer()
    build_tiny("llama", len(tokenizer), seed=1).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    return tmp_path / "base"


def _completion_logprob(model, prompt: str, completion: str) -> float:
    tok = model.tokenizer
    head, tail = tok(prompt)["input_ids"], tok(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = model.hf_model(ids).logits.log_softmax(-1)[0]
    return float(sum(logp[len(head) + i - 1, t] for i, t in enumerate(tail)))


def test_lora_learns_its_completions_and_loads_back_on_every_backend(base_folder, tmp_path):
    model = load_model(str(base_folder), device="cpu")
    before_weights = {k: v.clone() for k, v in model.hf_model.state_dict().items()}
    before = [_completion_logprob(model, p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
    # the random tiny model's output head is what limits it (initialiser range 0.02), so it gets a LoRA too
    losses = train_lora(model, PROMPTS, COMPLETIONS, tmp_path / "lora", rank=4, epochs=15, lr=1e-2, batch_size=2,
                        target_modules=["q_proj", "v_proj", "down_proj", "lm_head"], progress=False)
    assert losses[-1] < 0.5 * losses[0]
    # the model passed in is untouched: no LoRA layers left, no weight changed
    assert model.hf_model.state_dict().keys() == before_weights.keys()
    assert all(torch.equal(v, before_weights[k]) for k, v in model.hf_model.state_dict().items())
    weights = load_file(tmp_path / "lora" / "adapter_model.safetensors")
    assert any("lora_A" in name for name in weights) and any("lora_B" in name for name in weights)
    for backend in ("hf", "nnsight"):
        tuned = load_model(str(base_folder), device="cpu", backend=backend, adapter=tmp_path / "lora")
        after = [_completion_logprob(tuned, p, c) for p, c in zip(PROMPTS, COMPLETIONS)]
        assert all(a > b + 1.0 for a, b in zip(after, before)), (before, after)


def test_same_seed_same_adapter_and_bad_input_says_what_to_do(tmp_path):
    tokenizer = build_word_tokenizer()
    model = from_hf(build_tiny("llama", len(tokenizer), seed=2), tokenizer)
    for name in ("a", "b"):
        train_lora(model, PROMPTS, COMPLETIONS, tmp_path / name, rank=2, epochs=2, batch_size=3, seed=7, progress=False)
    a, b = (load_file(tmp_path / n / "adapter_model.safetensors") for n in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="as many completions as prompts"):
        train_lora(model, PROMPTS, COMPLETIONS[:2], tmp_path / "c")
    with pytest.raises(ValueError, match="rank must be > 0"):
        train_lora(model, PROMPTS, COMPLETIONS, tmp_path / "c", rank=0)
    assert not (tmp_path / "c").exists()


def _divergence(base, tuned, texts) -> float:
    """Mean per-token KL(base || tuned) over ``texts``, computed directly from two separate models."""
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([base.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            p = base.hf_model(ids).logits.log_softmax(-1)[0]
            q = tuned.hf_model(ids).logits.log_softmax(-1)[0]
        total += float((p.exp() * (p - q)).sum(-1).sum())
        count += ids.shape[1]
    return total / count


def test_a_kl_term_keeps_the_base_model_on_its_texts(base_folder, tmp_path):
    keep = ["the city of lima is in", "two three four", "one two three four"]
    model = load_model(str(base_folder), device="cpu")
    settings = dict(rank=4, epochs=10, lr=1e-2, batch_size=2, target_modules=["q_proj", "v_proj", "down_proj", "lm_head"],
                    progress=False)
    train_lora(model, PROMPTS, COMPLETIONS, tmp_path / "free", **settings)
    train_lora(model, PROMPTS, COMPLETIONS, tmp_path / "kept", kl_texts=keep, kl_weight=5.0, **settings)
    free, kept = (load_model(str(base_folder), device="cpu", adapter=tmp_path / n) for n in ("free", "kept"))
    assert _divergence(model, kept, keep) < 0.5 * _divergence(model, free, keep)
    # the completions are still learned
    assert _completion_logprob(kept, PROMPTS[0], COMPLETIONS[0]) > _completion_logprob(model, PROMPTS[0], COMPLETIONS[0]) + 1
    with pytest.raises(ValueError, match="kl_weight must be >= 0 and needs kl_texts"):
        train_lora(model, PROMPTS, COMPLETIONS, tmp_path / "c", kl_weight=1.0)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_the_completion_loss_is_the_models_own_labels_loss_with_the_head_run_at_completion_positions(arch):
    from veracity.hooks.backends import keeps_logits
    from veracity.hooks.lora import _collate, _tokenize, completion_loss

    tokenizer = build_word_tokenizer()
    hf = build_tiny(arch, len(tokenizer), seed=2)
    # ragged lengths: each row's completion sits at other positions, and padding follows the shorter ones
    batch = _collate(_tokenize(tokenizer, PROMPTS + ["paris"], COMPLETIONS + [" is in france"]), tokenizer.pad_token_id,
                     "cpu")
    assert keeps_logits(hf)
    expected = hf(**batch).loss
    (want,) = torch.autograd.grad(expected, hf.get_input_embeddings().weight)
    for keeps in (True, False):
        loss = completion_loss(hf, batch, keeps)
        (grad,) = torch.autograd.grad(loss, hf.get_input_embeddings().weight)
        torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-7)
