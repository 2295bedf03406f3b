"""Hooks are always removed: after success, after an exception, and when nested."""

import pytest
import torch

from veracity.hooks import StopForward, capture_residual, count_hooks


def forward(model, text="the city of paris"):
    ids = model.tokenizer([text], return_tensors="pt").input_ids
    try:
        model.hf_model(ids) if model.backend == "hf" else model.module(ids, return_type=None)
    except StopForward:
        pass


def warmed(tiny, arch, backend):
    """A model after one plain forward (TransformerBridge installs a few hooks of its own lazily)."""
    model = tiny(arch, backend)
    with torch.no_grad():
        forward(model)
    return model


@pytest.mark.parametrize("backend", ["hf", "transformer_lens"])
def test_no_hooks_left_after_success(tiny, backend):
    model = warmed(tiny, "llama", backend)
    before = count_hooks(model)
    with torch.no_grad(), capture_residual(model, [1, 2]) as store:
        assert count_hooks(model) == before + 2
        forward(model)
    assert set(store) == {1, 2}
    assert count_hooks(model) == before


@pytest.mark.parametrize("backend", ["hf", "transformer_lens"])
def test_no_hooks_left_after_exception(tiny, backend):
    model = warmed(tiny, "llama", backend)
    before = count_hooks(model)
    with pytest.raises(RuntimeError, match="boom"), capture_residual(model, [0, 3]):
        raise RuntimeError("boom")
    assert count_hooks(model) == before


def test_nested_contexts_remove_only_their_own(tiny):
    model = tiny("gpt2")
    before = count_hooks(model)
    with torch.no_grad(), capture_residual(model, [0], stop=False) as outer:
        with capture_residual(model, [0, 2], stop=False) as inner:
            assert count_hooks(model) == before + 3
            forward(model)
        assert count_hooks(model) == before + 1
        forward(model, "hello world")
    assert count_hooks(model) == before
    assert outer[0].shape[1] == 2 and inner[0].shape[1] == 4


def test_stop_skips_later_blocks(tiny):
    model = tiny("llama")
    ran = []
    handle = model.blocks[3].register_forward_hook(lambda *_: ran.append(3))
    try:
        with torch.no_grad(), capture_residual(model, [1]) as store:
            forward(model)
    finally:
        handle.remove()
    assert 1 in store and ran == []
