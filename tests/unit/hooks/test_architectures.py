"""The architecture matrix: ten model families x three backends, tiny random models built from config.

For each family and backend: ``extract`` equals what forward hooks on the decoder blocks themselves
see (last token, mean over real tokens, an int position; right-padded batch), ``steer`` shifts a
block's output by exactly ``c * v``, and a GGUF export keeps veracity's layer numbers (llama.cpp adds
``direction.N`` to the output of block ``N`` in every family's graph). A family the TransformerLens
bridge does not know fails in one line naming the backends that work. Nothing reaches the network.
"""

from __future__ import annotations

import pytest
import torch
from tiny_models import FAMILIES, block_outputs, build_family, build_word_tokenizer, expected_positions, residual_at

import veracity as vc
from veracity.hooks import count_hooks
from veracity.steering import from_gguf, to_gguf

BACKENDS = ("hf", "transformer_lens", "nnsight")
TEXTS = ["the city of paris is in france", "hello world", "tokyo is in japan and it is a city"]


def wrap(family: str, backend: str):
    tokenizer = build_word_tokenizer()
    return vc.from_hf(build_family(family, len(tokenizer)), tokenizer, backend=backend, model_id=f"tiny-{family}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_extract_and_steer_are_exact(family, backend, tmp_path):
    model = wrap(family, backend)
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True)
    assert model.tokenizer.padding_side == "right"
    expected = expected_positions(block_outputs(model, enc), enc["attention_mask"])
    for position, want in expected.items():
        got = vc.extract(model, TEXTS, layers="all", position=position, batch_size=len(TEXTS), progress=False)
        torch.testing.assert_close(got, want, msg=lambda m, p=position: f"{family}/{backend} position {p}: {m}")

    vector = vc.SteeringVector({2: torch.randn(64)}, model_id=model.model_id, n_layers=model.n_layers)

    plain = residual_at(model, enc, 2)
    with vc.steer(model, vector, coefficient=2.5):
        shifted = residual_at(model, enc, 2)
    real = enc["attention_mask"].bool()
    torch.testing.assert_close(shifted[real], plain[real] + 2.5 * vector[2])
    assert count_hooks(model) == 0

    path = to_gguf(vector, tmp_path / "v.gguf", model_hint=model.config.model_type)
    back = from_gguf(path)
    assert back.layers == [2] and torch.equal(back[2], vector[2])


def test_a_family_the_bridge_does_not_know_fails_in_one_line():
    from transformers import BioGptConfig, BioGptForCausalLM

    tokenizer = build_word_tokenizer()
    hf = BioGptForCausalLM(BioGptConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                        num_hidden_layers=2, num_attention_heads=4)).eval()
    with pytest.raises(ValueError) as raised:
        vc.from_hf(hf, tokenizer, backend="transformer_lens")
    message = str(raised.value)
    assert "\n" not in message
    assert "does not support BioGptForCausalLM (biogpt): use backend='hf' or backend='nnsight'" in message
    for backend in ("hf", "nnsight"):  # the same model works on the others
        acts = vc.extract(vc.from_hf(hf, build_word_tokenizer(), backend=backend), TEXTS, layers=[1], progress=False)
        assert acts.shape == (3, 1, 64)
