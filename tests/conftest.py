"""Shared fixtures: seeded RNGs, tiny random models built from config, the embedded model."""

from __future__ import annotations

import os

import pytest
import torch
from tiny_models import build_tiny, build_word_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def word_tokenizer():
    """A small offline word-level tokenizer (no hub download); fresh per test, as wrappers mutate it."""
    return build_word_tokenizer()


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
