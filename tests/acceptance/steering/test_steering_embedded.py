"""Steering the embedded SmolLM2-135M: exact no-op, exact shift, backends agree, GGUF of a real vector."""

import pytest
import torch

from veracity.hooks import StopForward, capture_residual, count_hooks, load_model
from veracity.steering import SteeringVector, from_gguf, honesty_vector, steer, to_gguf

pytestmark = pytest.mark.slow

TEXTS = ["The city of Paris is in France.", "Hello there"]


def test_zero_is_identical_and_the_shift_is_exact(embedded, forward_logits):
    vector = SteeringVector({12: torch.randn(576)}, model_id=embedded.model_id)
    base = forward_logits(embedded, TEXTS)
    before = count_hooks(embedded)
    with steer(embedded, vector, coefficient=0.0):
        assert torch.equal(forward_logits(embedded, TEXTS), base)
    enc = embedded.tokenizer(TEXTS, return_tensors="pt", padding=True)

    def resid():
        with torch.no_grad(), capture_residual(embedded, [12]) as store:
            try:
                embedded.hf_model(**enc)
            except StopForward:
                pass
        return store[12]

    plain = resid()
    with steer(embedded, vector, coefficient=3.0):
        shifted = resid()
    real = enc["attention_mask"].bool()
    # residual entries reach ~1e3 here, so compare h + c*v with the steered stream (not differences)
    torch.testing.assert_close(shifted[real], plain[real] + 3.0 * vector[12])
    assert count_hooks(embedded) == before


def test_backends_agree_on_the_embedded_model(embedded, forward_logits):
    vector = SteeringVector({5: torch.randn(576), 20: torch.randn(576)}, model_id=embedded.model_id)
    with steer(embedded, vector, coefficient=2.0):
        reference = forward_logits(embedded, TEXTS)
    for backend in ("nnsight", "transformer_lens"):
        model = load_model("smollm2-135m", backend=backend, device="cpu")
        with steer(model, vector, coefficient=2.0):
            got = forward_logits(model, TEXTS)
        mask = embedded.tokenizer(TEXTS, return_tensors="pt", padding=True)["attention_mask"].bool()
        torch.testing.assert_close(got[mask], reference[mask], atol=2e-3, rtol=1e-3)


def test_honesty_vector_exports_to_gguf(embedded, tmp_path):
    vector = honesty_vector(embedded, ["The city of Paris is in France.", "The city of Tokyo is in Japan.",
                                       "The city of Lima is in Peru."], layers=[0, 12], prefixes=False)
    assert vector.extra["separation"]["12"] >= 0.5
    with pytest.raises(ValueError, match="layer 0 has no slot"):
        to_gguf(vector, tmp_path / "h.gguf")
    to_gguf(vector.select([12]), tmp_path / "h.gguf")
    back = from_gguf(tmp_path / "h.gguf")
    assert back.layers == [12] and torch.equal(back[12], vector[12]) and back.extra["model_type"] == "llama"


@pytest.mark.parametrize("scope", ["all", "prompt", "generated"])
def test_each_scope_steers_exactly_its_positions_during_generate(embedded, scope):
    """Token by token, during ``generate`` with a KV cache: the block output moves by exactly c*v at the
    positions the scope names and not at all elsewhere; nothing warns."""
    import warnings

    from veracity.hooks.capture import hidden_of

    layer, coefficient = 10, 4.0
    vector = SteeringVector({layer: torch.randn(576, generator=torch.Generator().manual_seed(1))},
                            model_id=embedded.model_id)
    site = embedded.engine.resid_module(layer)
    before, after = [], []
    enc = embedded.tokenizer(["The capital of France is"], return_tensors="pt")
    pre = site.register_forward_hook(lambda _m, _a, out: before.append(hidden_of(out).detach().clone()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with steer(embedded, vector, coefficient, scope=scope):
                post = site.register_forward_hook(lambda _m, _a, out: after.append(hidden_of(out).detach().clone()))
                try:
                    with torch.no_grad():
                        embedded.engine.generate(enc["input_ids"], enc["attention_mask"], max_new_tokens=5,
                                                  min_new_tokens=5, do_sample=False,
                                                  pad_token_id=embedded.tokenizer.pad_token_id)
                finally:
                    post.remove()
    finally:
        pre.remove()
    assert len(before) == len(after) == 5, "one prompt call and four cached decoding calls"
    assert before[0].shape[1] == enc["input_ids"].shape[1] and all(b.shape[1] == 1 for b in before[1:])
    for call, (plain, steered) in enumerate(zip(before, after)):
        kind = "prompt" if call == 0 else "generated"
        if scope in ("all", kind):
            torch.testing.assert_close(steered, plain + coefficient * vector[layer])
        else:
            assert torch.equal(steered, plain), f"{scope} steered a {kind} call"
