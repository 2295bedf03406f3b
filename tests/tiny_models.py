"""Tiny seeded random models built from a config (no download), shared by fixtures and tests."""

from __future__ import annotations

import torch


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
