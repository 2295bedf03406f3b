"""load_model: clear errors, one surface for every backend."""

import pytest

from veracity.hooks import load_model
from veracity.hooks.errors import ModelNotFoundError


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'jax': choose one of hf, transformer_lens, nnsight"):
        load_model("smollm2-135m", backend="jax")


def test_missing_local_model_or_offline_hub_name(tmp_path):
    with pytest.raises(ModelNotFoundError, match="could not load model .*smollm2-135m"):
        load_model(str(tmp_path / "no-such-model"), device="cpu")
    with pytest.raises(ModelNotFoundError, match="hub could not provide it"):
        load_model("nobody/no-such-model-xyz", device="cpu")


def test_unknown_dtype():
    with pytest.raises(ValueError, match="unknown dtype 'float7'"):
        load_model("smollm2-135m", dtype="float7", device="cpu")


@pytest.mark.parametrize("backend", ["hf", "transformer_lens", "nnsight"])
def test_same_surface_on_every_backend(tiny, backend):
    model = tiny("gpt2", backend)
    assert (model.n_layers, model.d_model, model.model_id) == (4, 64, "tiny-gpt2")
    assert model.blocks_path == "transformer.h" and model.tokenizer.padding_side == "right"
    assert len(model.fingerprint) == 16
