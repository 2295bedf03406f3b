"""load_model(..., adapter=DIR): a peft LoRA adapter merged in; every backend sees the fine-tuned model exactly."""

from __future__ import annotations

import pytest
import torch
from tiny_models import build_tiny, build_word_tokenizer

from veracity.hooks import extract, load_model
from veracity.hooks.backends import BACKENDS
from veracity.steering import SteeringVector, steer

TEXTS = ["the city of paris is in france .", "tokyo is in japan", "one two three"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny Llama saved as a folder, a random (non-zero) LoRA adapter for it, and the unmerged peft model."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("adapter")
    tokenizer = build_word_tokenizer()
    base = build_tiny("llama", len(tokenizer), seed=3)
    base.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
                        init_lora_weights=False)
    peft_model = get_peft_model(build_tiny("llama", len(tokenizer), seed=3), config).eval()
    peft_model.save_pretrained(root / "lora")
    wide = get_peft_model(build_tiny("llama", len(tokenizer) + 7, seed=3), LoraConfig(
        r=4, target_modules=["embed_tokens"], init_lora_weights=False))
    wide.save_pretrained(root / "other_vocab")
    return root, peft_model, tokenizer


def _peft_last_token_blocks(peft_model, tokenizer) -> torch.Tensor:
    """``(text, layer, d)`` block outputs at each text's last token, from the unmerged peft model itself."""
    rows = []
    for text in TEXTS:
        enc = tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            hidden = peft_model(**enc, output_hidden_states=True).hidden_states
        rows.append(torch.stack([h[0, -1] for h in hidden[1:]]))
    return torch.stack(rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adapted_model_is_exact_on_every_backend(folders, backend):
    root, peft_model, tokenizer = folders
    model = load_model(root / "base", backend=backend, device="cpu", adapter=root / "lora")
    assert model.model_id.endswith("+adapter:lora") and "LoRA" in model.source
    acts = extract(model, TEXTS, layers="all", progress=False)
    reference = _peft_last_token_blocks(peft_model, tokenizer)
    # Hugging Face's last hidden state is taken after the final norm: blocks 0 .. n-2 are the block outputs
    torch.testing.assert_close(acts[:, :-1], reference[:, :-1], atol=1e-4, rtol=1e-4)
    plain = extract(load_model(root / "base", backend=backend, device="cpu"), TEXTS, layers="all", progress=False)
    assert (acts - plain).abs().max() > 1e-3  # the adapter changes the model
    vector = SteeringVector({2: torch.randn(model.d_model)}, model_id=model.model_id)
    with steer(model, vector, coefficient=3.0):
        steered = extract(model, TEXTS, layers=[2], progress=False)
    torch.testing.assert_close(steered[:, 0] - acts[:, 2], (3.0 * vector[2]).expand(len(TEXTS), -1), atol=1e-5,
                               rtol=1e-5)


def test_a_missing_or_foreign_adapter_is_one_clear_error(folders):
    root, _, _ = folders
    with pytest.raises(FileNotFoundError, match="no peft adapter at .*PeftModel.save_pretrained"):
        load_model(root / "base", device="cpu", adapter=root / "nothing")
    with pytest.raises(ValueError, match="does not fit this model.*same base model"):
        load_model(root / "base", device="cpu", adapter=root / "other_vocab")
