"""Acceptance on both embedded models (SmolLM2-135M, Llama family; Gemma 3 270M), on every backend.

Extraction equals what forward hooks on the decoder blocks themselves see, for the last token, the
mean over real tokens and an int position of a right-padded batch; steering shifts a block's output
by exactly ``c * v``. The reference forward runs on the same model object after the backend wrapped
it (TransformerLens's bridge switches the model to eager attention in place).
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import block_outputs, expected_positions, residual_at

from veracity.hooks import count_hooks, extract, load_model
from veracity.steering import SteeringVector, steer

pytestmark = pytest.mark.slow

MODELS = {"smollm2-135m": (30, 576), "gemma3-270m": (18, 640)}
BACKENDS = ["hf", "transformer_lens", "nnsight"]
TEXTS = [
    "The city of Paris is in France.",
    "Hi there",
    "The capital of Japan is Tokyo, a city of many millions of people and a great many trains.",
]


def tolerance(backend: str, reference: torch.Tensor) -> dict:
    # Bridges run the same modules but may order float operations differently; Gemma's residual
    # stream reaches ~1e4, so the TransformerLens tolerance is relative to its scale.
    if backend == "transformer_lens":
        return {"rtol": 1e-5, "atol": 2e-6 * float(reference.abs().max())}
    return {}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_extract_equals_the_blocks_own_outputs_and_steering_shifts_them_by_exactly_c_v(name, backend):
    # one load for both checks: loading Gemma 3 (its 262k-token tokenizer, a TransformerLens bridge) takes seconds
    model = load_model(name, backend=backend, device="cpu")
    assert (model.n_layers, model.d_model) == MODELS[name]
    extract_equals_the_blocks_own_outputs(model, backend)
    steering_shifts_the_block_output_by_exactly_c_v(model)


def extract_equals_the_blocks_own_outputs(model, backend: str) -> None:
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True)
    expected = expected_positions(block_outputs(model, enc), enc["attention_mask"])
    for position, want in expected.items():
        got = extract(model, TEXTS, layers="all", position=position, batch_size=len(TEXTS), progress=False)
        torch.testing.assert_close(got, want, **tolerance(backend, want), msg=lambda m, p=position: f"{p}: {m}")


def steering_shifts_the_block_output_by_exactly_c_v(model) -> None:
    layer = model.n_layers // 2
    vector = SteeringVector({layer: torch.randn(model.d_model)}, model_id=model.model_id, n_layers=model.n_layers)
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True)

    before = count_hooks(model)
    plain = residual_at(model, enc, layer)
    with steer(model, vector, coefficient=0.0):
        assert torch.equal(residual_at(model, enc, layer), plain)
    with steer(model, vector, coefficient=3.0):
        shifted = residual_at(model, enc, layer)
    real = enc["attention_mask"].bool()
    # compare h + c*v with the steered stream (entries reach 1e3-1e4, so not differences)
    torch.testing.assert_close(shifted[real], plain[real] + 3.0 * vector[layer])
    assert count_hooks(model) == before


def test_a_conversion_parses_each_gguf_once_and_puts_the_reader_back():
    import gguf
    import numpy as np

    from veracity.hooks.embedded import _one_gguf_parse, gguf_path

    path = gguf_path("smollm2-135m")
    original = gguf.GGUFReader
    with _one_gguf_parse():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first  # the tokenizer, the config and the weights share one parse
        assert first.fields["general.architecture"].contents() == "llama"
    # it slices the file as a plain array (not np.memmap) and reads what the library's own reader reads
    library = original(path)
    assert type(first.data) is np.ndarray and isinstance(library.data, np.memmap)
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "llama.block_count"):
        assert first.fields[key].contents() == library.fields[key].contents()
    for mine, theirs in zip((first.tensors[0], first.tensors[-1]), (library.tensors[0], library.tensors[-1]), strict=True):
        assert mine.name == theirs.name and np.array_equal(mine.data, theirs.data)
    assert gguf.GGUFReader is original
    with pytest.raises(RuntimeError), _one_gguf_parse():
        raise RuntimeError("interrupted")
    assert gguf.GGUFReader is original
