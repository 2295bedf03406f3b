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
    with pytest.raises(FileNotFoundError, match="no adapter folder at .*nothing: pass the folder that train_lora"):
        load_model(root / "base", device="cpu", adapter=root / "nothing")
    with pytest.raises(ValueError, match="the adapter at .*other_vocab holds .*embed_tokens.* names no module of "
                                         "this model: pass an adapter trained on this model"):
        load_model(root / "base", device="cpu", adapter=root / "other_vocab")


def _damaged(root, name, config=None, weights=True):
    folder = root / name
    folder.mkdir(exist_ok=True)
    if config is not None:
        (folder / "adapter_config.json").write_text(config)
    if weights:
        (folder / "adapter_model.safetensors").write_bytes((root / "lora" / "adapter_model.safetensors").read_bytes())
    return folder


@pytest.mark.parametrize(("name", "config", "weights", "error", "message"), [
    ("no_config", None, True, FileNotFoundError, r"no peft adapter at .*no_config \(no adapter_config.json\)"),
    ("garbage", "{oops", True, ValueError, r"garbage/adapter_config.json is not valid JSON .*train or copy it again"),
    ("not_lora", '{"peft_type": "PREFIX_TUNING"}', True, ValueError, r"does not describe a LoRA adapter \(peft_type "
                                                                     r"'PREFIX_TUNING'\)"),
    ("no_weights", '{"peft_type": "LORA"}', False, FileNotFoundError, r"no adapter weights in .*no_weights "
                                                                      r"\(adapter_model.safetensors\)"),
])
def test_each_adapter_problem_has_its_own_line(folders, name, config, weights, error, message):
    root, _, _ = folders
    with pytest.raises(error, match=message) as raised:
        load_model(root / "base", device="cpu", adapter=_damaged(root, name, config, weights))
    assert "\n" not in str(raised.value)


def test_an_adapter_trained_on_another_model_of_the_same_shape_is_refused(folders, tmp_path):
    from veracity.hooks import train_lora

    root, _, tokenizer = folders
    other = build_tiny("llama", len(tokenizer), seed=4)  # same architecture and widths, other weights
    other.save_pretrained(tmp_path / "other")
    tokenizer.save_pretrained(tmp_path / "other")
    trained = tmp_path / "adapter"
    train_lora(load_model(tmp_path / "other", device="cpu"), ["tokyo is in"], [" japan"], trained, epochs=1,
               progress=False)
    assert (trained / "veracity_base.json").is_file()
    with pytest.raises(ValueError, match=r"the adapter at .*adapter was trained on .*other.* \(weights \w+\), not on "
                                         r"this model \(weights \w+\): pass the adapter trained on this model"):
        load_model(root / "base", device="cpu", adapter=trained)
    assert load_model(tmp_path / "other", device="cpu", adapter=trained).model_id.endswith("+adapter:adapter")


def test_a_foreign_adapter_without_a_record_is_checked_tensor_by_tensor(folders, tmp_path):
    from peft import LoraConfig, get_peft_model

    root, _, tokenizer = folders
    gpt2 = get_peft_model(build_tiny("gpt2", len(tokenizer), seed=3), LoraConfig(r=4, target_modules=["c_attn"],
                                                                               init_lora_weights=False))
    gpt2.save_pretrained(tmp_path / "gpt2_lora")  # another model family, the same width
    with pytest.raises(ValueError, match=r"holds base_model.model.transformer.h.0.attn.c_attn.lora_A.weight, which "
                                         r"names no module of this model"):
        load_model(root / "base", device="cpu", adapter=tmp_path / "gpt2_lora")


def test_adapters_stack_in_order_each_on_the_model_the_ones_before_made(folders, tmp_path):
    from veracity.hooks import train_lora

    root, _, _ = folders
    first = load_model(root / "base", device="cpu", adapter=root / "lora")
    train_lora(first, ["tokyo is in"], [" japan"], tmp_path / "second", epochs=2, lr=1e-2, target_modules=["q_proj"],
               progress=False)
    stacked = load_model(root / "base", device="cpu", adapter=[root / "lora", tmp_path / "second"])
    assert stacked.model_id.endswith("+adapter:lora+adapter:second")
    # the second adapter merged by hand into the first model gives the same activations
    from veracity.hooks.adapters import merge_adapter

    by_hand = load_model(root / "base", device="cpu", adapter=root / "lora")
    by_hand.hf_model = merge_adapter(by_hand.hf_model, tmp_path / "second")
    torch.testing.assert_close(extract(stacked, TEXTS, layers="all", progress=False),
                               extract(by_hand, TEXTS, layers="all", progress=False))
    assert not torch.equal(extract(stacked, TEXTS, layers="all", progress=False),
                           extract(first, TEXTS, layers="all", progress=False))
    with pytest.raises(ValueError, match="not on this model"):  # the second alone does not fit the base
        load_model(root / "base", device="cpu", adapter=tmp_path / "second")
