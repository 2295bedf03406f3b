"""extract() equals the model's own hidden states, on every backend, for every position kind."""

import pytest
import torch

from veracity.hooks import extract
from veracity.hooks.model import BACKENDS

TEXTS = ["the city of paris is in france .", "hello", "tokyo is the capital of japan , yes", "rome"]


def hf_hidden(model, texts):
    """Hugging Face output_hidden_states on the same right-padded batch extract uses."""
    enc = model.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.hf_model(**enc, output_hidden_states=True)
    return out.hidden_states, enc.attention_mask


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_hf_hidden_states(tiny, arch, backend):
    model = tiny(arch, backend)
    layers = list(range(model.n_layers - 1))  # HF's last entry is after the final norm
    acts = extract(model, TEXTS, layers=layers, batch_size=len(TEXTS), progress=False)
    hidden, mask = hf_hidden(model, TEXTS)
    last = mask.sum(1) - 1
    expected = torch.stack([hidden[layer + 1][torch.arange(len(TEXTS)), last] for layer in layers], dim=1)
    torch.testing.assert_close(acts, expected)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_last_layer_is_before_final_norm(tiny, arch):
    model = tiny(arch)
    acts = extract(model, ["hello world"], layers=[-1], progress=False)
    enc = model.tokenizer(["hello world"], return_tensors="pt")
    with torch.no_grad():
        hidden = model.hf_model(**enc, output_hidden_states=True).hidden_states
    norm = model.hf_model.model.norm if arch == "llama" else model.hf_model.transformer.ln_f
    with torch.no_grad():
        torch.testing.assert_close(norm(acts[:, 0]), hidden[-1][:, -1])


def test_batched_equals_one_at_a_time(tiny):
    model = tiny("llama")
    batched = extract(model, TEXTS, layers="all", batch_size=4, progress=False)
    single = torch.cat([extract(model, [t], layers="all", progress=False) for t in TEXTS])
    torch.testing.assert_close(batched, single)


@pytest.mark.parametrize("position", ["first", "mean", 0, -1, [0, 0, 3, 0]])
def test_positions_match_hf(tiny, position):
    model = tiny("gpt2")
    acts = extract(model, TEXTS, layers=[1], position=position, progress=False)[:, 0]
    for i, text in enumerate(TEXTS):
        enc = model.tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            hidden = model.hf_model(**enc, output_hidden_states=True).hidden_states[2][0]
        if position == "mean":
            expected = hidden.mean(0)
        elif position == "first":
            expected = hidden[0]
        else:
            expected = hidden[position[i] if isinstance(position, list) else position]
        torch.testing.assert_close(acts[i], expected)


def test_template_fills_text(tiny):
    model = tiny("llama")
    templated = extract(model, ["paris"], layers=[0], template="what is {text} ?", progress=False)
    plain = extract(model, ["what is paris ?"], layers=[0], progress=False)
    torch.testing.assert_close(templated, plain)


def test_output_shape_dtype_and_order(tiny):
    model = tiny("llama")
    acts = extract(model, TEXTS, layers=[2, 0], progress=False, batch_size=2)
    assert acts.shape == (len(TEXTS), 2, model.d_model)
    assert acts.dtype == torch.float32 and acts.device.type == "cpu"
    torch.testing.assert_close(acts[:, 1], extract(model, TEXTS, layers=[0], progress=False)[:, 0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": [4]}, "layer 4 is out of range for tiny-llama \\(4 layers: 0..3\\)"),
        ({"layers": []}, "no layers requested"),
        ({"position": "middle"}, "unknown position 'middle'"),
        ({"position": 5}, "position 5 is outside a text of 1 tokens"),
        ({"position": [0, 1]}, "one index per text"),
        ({"template": "no slot"}, "must contain a '\\{text\\}' slot"),
        ({"cache": 0.5}, "cache must be True, False or a cache folder"),
    ],
)
def test_bad_arguments_say_what_to_do(tiny, kwargs, message):
    model = tiny("llama")
    with pytest.raises(ValueError, match=message):
        extract(model, TEXTS, progress=False, **kwargs)


def test_bad_texts(tiny):
    model = tiny("llama")
    with pytest.raises(ValueError, match="no texts"):
        extract(model, [], progress=False)
    with pytest.raises(ValueError, match="list of strings"):
        extract(model, "just one string", progress=False)


def test_right_pad_pads_on_the_right_or_on_the_left():
    from veracity.hooks.extract import right_pad

    ids, mask = right_pad([[5, 6, 7], [8]], 0, "cpu")
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = right_pad([[5, 6, 7], [8]], 0, "cpu", left=True)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
