"""Fixtures for the probes tests: seeding, single-threaded torch, planted data sets."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from planted_data import Planted, make_acts, make_pairs, make_pik, make_polarity


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Run torch single-threaded in these modules: the tensors are tiny, and on a busy 2-core
    machine intra-op threads make each optimiser step ~50x slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seeded():
    """Seed every global RNG before each test (the data sets use their own generators)."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture(scope="session")
def acts() -> Planted:
    """Plain activations ``(n, d)`` with 0/1 labels."""
    return make_acts()


@pytest.fixture(scope="session")
def pairs() -> Planted:
    """Contrast pairs ``(n, 2, d)`` with 0/1 labels."""
    return make_pairs()


@pytest.fixture(scope="session")
def polarity() -> Planted:
    """Polarity pairs ``(n, 2, 2, d)`` with 0/1 labels for A."""
    return make_polarity()


@pytest.fixture(scope="session")
def pik() -> Planted:
    """P(IK) data: soft labels for training, true probabilities for the test half."""
    return make_pik()
