"""steer(): exact no-op at 0, linear at the hooked site, same on every backend, hooks always removed."""

import pytest
import torch

from veracity.hooks import capture_residual, count_hooks
from veracity.hooks.backends import cache_kwarg, cache_of
from veracity.hooks.extract import run_layers
from veracity.steering import steer

BACKENDS = ["hf", "nnsight", "transformer_lens"]


def resid(model, layer, texts=("the city of paris is in france", "hello world")):
    """Residual stream after ``layer`` for a right-padded batch, through the model's own backend."""
    enc = model.tokenizer(list(texts), return_tensors="pt", padding=True)
    return run_layers(model, enc["input_ids"], enc["attention_mask"], [layer])[layer], enc["attention_mask"]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_coefficient_zero_is_bit_identical(tiny, forward_logits, vector_factory, backend, arch):
    model = tiny(arch, backend)
    base = forward_logits(model)
    before = count_hooks(model)
    with steer(model, vector_factory(model, [0, 2]), coefficient=0.0):
        zero = forward_logits(model)
    with steer(model, vector_factory(model, [0, 2]), coefficient={0: 0.0, 2: 0.0}):
        zero_dict = forward_logits(model)
    assert torch.equal(zero, base) and torch.equal(zero_dict, base)
    assert count_hooks(model) == before


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("coefficient", [0.5, -3.0])
def test_shift_at_hooked_layer_is_exactly_c_times_v(tiny, vector_factory, backend, coefficient):
    model = tiny("llama", backend)
    vector = vector_factory(model, [1])
    base, mask = resid(model, 1)
    base_early, _ = resid(model, 0)
    with steer(model, vector, coefficient=coefficient):
        steered, _ = resid(model, 1)
        steered_early, _ = resid(model, 0)
    real = mask.bool()
    expected = (coefficient * vector[1]).expand(int(real.sum()), -1)
    torch.testing.assert_close(steered[real] - base[real], expected)
    assert torch.equal(steered_early, base_early)
    assert torch.equal(steered[~real], base[~real]), "padded positions are not steered"


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_backends_agree(tiny, forward_logits, vector_factory, arch):
    results = {}
    for backend in BACKENDS:
        model = tiny(arch, backend)
        with steer(model, vector_factory(model, [1, 3]), coefficient=2.0):
            results[backend] = forward_logits(model)
    base = forward_logits(tiny(arch, "hf"))
    assert not torch.allclose(results["hf"], base)
    torch.testing.assert_close(results["nnsight"], results["hf"])
    torch.testing.assert_close(results["transformer_lens"], results["hf"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hooks_removed_after_exception(tiny, vector_factory, backend):
    model = tiny("llama", backend)
    before = count_hooks(model)
    with pytest.raises(RuntimeError, match="boom"), steer(model, vector_factory(model, [0, 1]), 1.0):
        assert count_hooks(model) == before + 3  # one per layer + the call observer
        raise RuntimeError("boom")
    assert count_hooks(model) == before


def test_nested_contexts_add_and_remove_only_their_own(tiny, forward_logits, vector_factory):
    model = tiny("llama")
    vector = vector_factory(model, [1])
    before = count_hooks(model)
    with steer(model, vector, 2.0):
        inside_outer = count_hooks(model)
        with steer(model, vector, 1.0):
            assert count_hooks(model) == inside_outer + 2
            nested = forward_logits(model)
        assert count_hooks(model) == inside_outer
    assert count_hooks(model) == before
    with steer(model, vector, 3.0):
        once = forward_logits(model)
    torch.testing.assert_close(nested, once)


def test_per_layer_coefficients(tiny, forward_logits, vector_factory):
    model = tiny("llama")
    vector = vector_factory(model, [1, 2])
    with steer(model, vector, {1: 2.0, 2: 0.0}) as applied:
        mixed = forward_logits(model)
    assert applied == {1: 2.0, 2: 0.0}
    with steer(model, vector, 2.0, layers=[1]):
        only_one = forward_logits(model)
    assert torch.equal(mixed, only_one)
    with pytest.raises(ValueError, match="no entry for layer 2"):
        with steer(model, vector, {1: 2.0}, layers=[1, 2]):
            pass
    with pytest.raises(ValueError, match="no direction for layer 3"):
        with steer(model, vector, 1.0, layers=[3]):
            pass


def test_misuse_fails_before_installing_hooks(tiny, vector_factory):
    model = tiny("llama")
    before = count_hooks(model)
    with pytest.raises(ValueError, match="unknown scope"):
        with steer(model, vector_factory(model, [1]), 1.0, scope="decode"):
            pass
    other = tiny("gpt2")
    other.d_model = 32  # pretend: a vector built on a narrower model
    with pytest.raises(ValueError, match="d_model=32, model has 64"):
        with steer(model, vector_factory(other, [1]), 1.0):
            pass
    assert count_hooks(model) == before


def test_padding_does_not_change_real_tokens(tiny, forward_logits, vector_factory):
    model = tiny("llama")
    texts = ["the city of paris is in france", "hello world"]
    with steer(model, vector_factory(model, [0, 2]), 1.5):
        batch = forward_logits(model, texts)
        alone = [forward_logits(model, [t]) for t in texts]
    for row, single in enumerate(alone):
        n = single.shape[1]
        torch.testing.assert_close(batch[row, :n], single[0])


def _two_calls(model, layer):
    """Prompt call then one cached step; the residual after ``layer`` at both."""
    ids = model.tokenizer(["the city of paris is"], return_tensors="pt").input_ids
    out = {}
    with torch.no_grad():
        with capture_residual(model, [layer], stop=False) as store:
            first = model.hf_model(ids, use_cache=True)
            out["prompt"] = store[layer].clone()
            model.hf_model(ids[:, -1:] * 0 + 5, use_cache=True, **cache_kwarg(model.hf_model, cache_of(first)))
            out["generated"] = store[layer].clone()
    return out


@pytest.mark.parametrize("scope", ["all", "prompt", "generated"])
def test_scopes_with_kv_cache(tiny, vector_factory, scope):
    model = tiny("llama")
    vector = vector_factory(model, [1])
    base = _two_calls(model, 1)
    with steer(model, vector, 2.0, scope=scope):
        steered = _two_calls(model, 1)
    for call in ("prompt", "generated"):
        delta = steered[call] - base[call]
        if scope in ("all", call):
            torch.testing.assert_close(delta, (2.0 * vector[1]).expand_as(delta))
        else:
            assert torch.equal(delta, torch.zeros_like(delta))


def _greedy(model, n_new):
    enc = model.tokenizer(["the city of paris is"], return_tensors="pt")
    with torch.no_grad():
        return model.engine.generate(enc["input_ids"], enc["attention_mask"], max_new_tokens=n_new, do_sample=False,
                                      pad_token_id=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_generate_scopes(tiny, vector_factory, backend):
    model = tiny("llama", backend)
    vector = vector_factory(model, [1, 2], scale=20.0)
    base = _greedy(model, 1)
    before = count_hooks(model)  # after a first run: TransformerBridge adds hooks of its own lazily
    with steer(model, vector, 1.0, scope="generated"):
        generated_only = _greedy(model, 1)
    with steer(model, vector, 1.0, scope="prompt"):
        prompt_only = _greedy(model, 1)
    with steer(model, vector, 1.0, scope="all"):
        everywhere = _greedy(model, 1)
        _greedy(model, 4)
    assert torch.equal(generated_only, base), "the first new token comes from the unsteered prompt pass"
    assert torch.equal(prompt_only, everywhere) and not torch.equal(everywhere, base)
    assert count_hooks(model) == before


def test_a_shift_far_beyond_the_residual_stream_warns_once_and_an_overflow_is_refused(tiny, vector_factory, caplog):
    import logging

    from veracity.hooks import extract

    model = tiny("llama")
    vector = vector_factory(model, [1])
    with caplog.at_level(logging.WARNING, logger="veracity.steering.apply"):
        with steer(model, vector, coefficient=1e30):
            extract(model, ["hello world", "tokyo is in japan"], layers=[2], progress=False)
            extract(model, ["one two three"], layers=[2], progress=False)
        with steer(model, vector, coefficient=0.01):
            extract(model, ["hello world"], layers=[2], progress=False)
    warned = [r.getMessage() for r in caplog.records if "the residual stream's mean norm" in r.getMessage()]
    assert len(warned) == 1 and "layer 1" in warned[0] and "use a smaller coefficient" in warned[0]
    with pytest.raises(ValueError, match="overflows to inf/NaN"):
        with steer(model, vector, coefficient=1e300):
            pass
    assert model.engine.steering == []
