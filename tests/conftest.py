"""Shared fixtures: seeded RNGs, tiny random models built from config, the embedded model."""

from __future__ import annotations

import os

import pytest
import torch
from tiny_models import build_tiny

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "the city of paris is in france not capital a an and true false yes no answer question "
    "statement tokyo japan rome italy berlin germany lima peru cairo egypt hello world it is was "
    "what which who one two three four five six seven eight nine ten larger smaller than . , ? !"
).split()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def word_tokenizer():
    """A small offline word-level tokenizer (no hub download); fresh per test, as wrappers mutate it."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[UNK]", "[PAD]", "[EOS]", *dict.fromkeys(WORDS)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]", name_or_path="tiny-words"
    )


@pytest.fixture
def tiny(word_tokenizer):
    """Factory: ``tiny("llama" | "gpt2", backend="hf")`` -> a fresh VeracityModel."""
    from veracity.hooks.model import from_hf

    def make(arch: str = "llama", backend: str = "hf"):
        return from_hf(build_tiny(arch, len(word_tokenizer)), word_tokenizer, backend=backend, model_id=f"tiny-{arch}")

    return make


@pytest.fixture(scope="session")
def embedded():
    """The embedded SmolLM2-135M-Instruct, HF backend (loaded once per session)."""
    from veracity.hooks import load_model

    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def shared_datasets():
    """``../shared/datasets`` beside the checkout; tests that need it skip with a reason when absent."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    if not path.is_dir():
        pytest.skip(f"real external datasets not found at {path} (they live in ../shared beside the repo)")
    return path
