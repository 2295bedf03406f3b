"""Tiny seeded random models built from a config (no download), shared by fixtures and tests."""

from __future__ import annotations

import torch

WORDS = (
    "the city of paris is in france not capital a an and true false yes no answer question "
    "statement tokyo japan rome italy berlin germany lima peru cairo egypt hello world it is was "
    "what which who one two three four five six seven eight nine ten larger smaller than . , ? !"
).split()


def build_word_tokenizer():
    """A small offline word-level tokenizer over :data:`WORDS` (no hub download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[UNK]", "[PAD]", "[EOS]", *dict.fromkeys(WORDS)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]", name_or_path="tiny-words"
    )


def build_tiny(arch: str, vocab_size: int, seed: int = 0):
    """A seeded random Llama or GPT-2 causal LM (4 blocks, width 64)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if arch == "llama":
        config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
        return LlamaForCausalLM(config).eval()
    config = GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=4, n_head=4, n_positions=128)
    return GPT2LMHeadModel(config).eval()


FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "gpt2", "gpt_neox", "phi3", "olmo2")
"""The model families the architecture matrix covers (Hugging Face ``model_type`` names, roughly)."""


def build_family(family: str, vocab_size: int, seed: int = 0):
    """A seeded random causal LM of ``family`` (4 blocks, width 64, 128 positions) built from its config."""
    import transformers as tf

    common = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    specs = {
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM, common),
        "mistral": (tf.MistralConfig, tf.MistralForCausalLM, common),
        "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM, common),
        "qwen3": (tf.Qwen3Config, tf.Qwen3ForCausalLM, {**common, "head_dim": 16}),
        "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM, {**common, "head_dim": 16}),
        "gemma3": (tf.Gemma3TextConfig, tf.Gemma3ForCausalLM, {**common, "head_dim": 16}),
        "gpt2": (tf.GPT2Config, tf.GPT2LMHeadModel, dict(vocab_size=vocab_size, n_embd=64, n_layer=4, n_head=4,
                                                         n_positions=128)),
        "gpt_neox": (tf.GPTNeoXConfig, tf.GPTNeoXForCausalLM, {k: v for k, v in common.items()
                                                               if k != "num_key_value_heads"}),
        "phi3": (tf.Phi3Config, tf.Phi3ForCausalLM, {**common, "pad_token_id": 0}),
        "olmo2": (tf.Olmo2Config, tf.Olmo2ForCausalLM, common),
    }
    config_class, model_class, kwargs = specs[family]
    torch.manual_seed(seed)
    return model_class(config_class(**kwargs)).eval()


def block_outputs(model, enc) -> torch.Tensor:
    """``(batch, layer, pos, d)``: every block's output on ``enc``, read by forward hooks on the HF blocks themselves."""
    seen = []
    handles = [block.register_forward_hook(lambda _m, _i, out: seen.append(out[0] if isinstance(out, tuple) else out))
               for block in model.blocks]
    try:
        with torch.no_grad():
            model.hf_model(**enc)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(seen, dim=1)


def expected_positions(blocks: torch.Tensor, attention_mask: torch.Tensor) -> dict:
    """What ``extract`` must return for ``last``, ``mean`` and position 1, from :func:`block_outputs` of a
    right-padded batch: ``{position: (batch, layer, d)}``."""
    real = attention_mask.bool()
    rows = torch.arange(len(real))
    return {
        "last": blocks[rows, :, real.sum(1) - 1],
        "mean": (blocks * real[:, None, :, None]).sum(2) / real.sum(1)[:, None, None],
        1: blocks[:, :, 1],
    }


def residual_at(model, enc, layer: int) -> torch.Tensor:
    """The residual stream after block ``layer`` on ``enc``, through the model's own backend (steered if inside steer)."""
    from veracity.hooks import StopForward, capture_residual

    with torch.no_grad(), capture_residual(model, [layer]) as store:
        try:
            model.engine.forward(enc["input_ids"], enc["attention_mask"])
        except StopForward:
            pass
    return store[layer]
