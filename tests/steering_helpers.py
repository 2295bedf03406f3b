"""Helpers for the steering tests (unit and acceptance): a forward pass on any backend, random vectors.

The fixtures are registered by ``tests/conftest.py``."""

from __future__ import annotations

import pytest
import torch

from veracity.steering import SteeringVector

TEXTS = ["the city of paris is in france", "tokyo is in japan", "hello world"]


def logits(model, texts=TEXTS):
    """Logits ``(batch, pos, vocab)`` of a right-padded batch through the model's own backend."""
    enc = model.tokenizer(list(texts), return_tensors="pt", padding=True)
    with torch.no_grad():
        if model.backend == "hf":
            return model.hf_model(**enc).logits
        if model.backend == "transformer_lens":
            return model.module(enc["input_ids"], attention_mask=enc["attention_mask"])
        with model.module.trace(dict(enc)):
            out = model.module.output.save()
        return out.logits


def random_vector(model, layers, seed=0, scale=1.0) -> SteeringVector:
    """A seeded random vector for ``model`` (roughly unit entries x ``scale``)."""
    gen = torch.Generator().manual_seed(seed)
    return SteeringVector({layer: scale * torch.randn(model.d_model, generator=gen) for layer in layers},
                          model_id=model.model_id, n_layers=model.n_layers, method="random")


@pytest.fixture
def vector_factory():
    """``vector_factory(model, layers, seed=0, scale=1.0)`` -> a random :class:`SteeringVector`."""
    return random_vector


@pytest.fixture
def forward_logits():
    """``forward_logits(model, texts=TEXTS)`` -> logits of a right-padded batch on the model's backend."""
    return logits
