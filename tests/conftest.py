"""Shared fixtures: seeded RNGs, tiny random models built from config, the embedded model."""

from __future__ import annotations

import os

import pytest
import torch
from steering_helpers import forward_logits, vector_factory  # noqa: F401  (fixtures for the steering tests)
from tiny_models import build_tiny, build_word_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

def pytest_addoption(parser):
    parser.addoption("--reference", action="store_true",
                     help="also recompute the stored reference figures (tests marked reference; minutes each)")
    parser.addoption("--write-golden", action="store_true", help="with --reference: rewrite the stored figures")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reference"):
        return
    skip = pytest.mark.skip(reason="recomputes a stored reference (minutes): run with pytest --reference")
    for item in items:
        if "reference" in item.keywords:
            item.add_marker(skip)


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
def embedded_gemma():
    """The embedded Gemma 3 270M base, HF backend (loaded once per session)."""
    from veracity.hooks import load_model

    return load_model("gemma3-270m", device="cpu")


@pytest.fixture(scope="session")
def shared_datasets():
    """``../shared/datasets`` beside the checkout; tests that need it skip with a reason when absent."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    if not path.is_dir():
        pytest.skip(f"real external datasets not found at {path} (they live in ../shared beside the repo)")
    return path
