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


# The longest test modules (pytest --durations), run first: two workers handed one test at a time
# (make test: --dist load --maxschedchunk 1) then finish together instead of one waiting on the other's last long test.
HEAVIEST_FIRST = (
    "test_lie_detection_acceptance", "test_deception_organism_acceptance", "test_pik_run_acceptance",
    "test_honesty_pressure_acceptance", "test_verbal_calibration_acceptance", "test_truthfulqa_run_acceptance",
    "test_abstention_run_acceptance", "test_ccs_burns_parity", "test_behavioural_calibration_acceptance",
    "test_pik_cross_run_acceptance", "test_steering_experiments_acceptance",
    "test_calibration_gap_acceptance", "test_readme_acceptance", "test_organism_steering_acceptance",
    "test_belief_drift_acceptance", "test_poisoned_training_acceptance", "test_notebook_acceptance", "test_torchrun",
    "test_polarity_run_acceptance", "test_cache_processes",
)


def _run_order(item) -> int:
    module = item.path.stem
    if module in HEAVIEST_FIRST:
        return HEAVIEST_FIRST.index(module)
    return len(HEAVIEST_FIRST) + ("slow" not in item.keywords)  # then the other embedded-model tests, then the rest


def pytest_collection_modifyitems(config, items):
    items.sort(key=_run_order)  # stable: each group keeps its collected order
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
