"""The one --layers grammar: all, every:K, single layers and ranges, parsed in one place for the API, extract and the studies."""

import pytest
import torch

from veracity.hooks import extract
from veracity.hooks.convention import check_layer_spec, layers_from_spec, resolve_layers


@pytest.mark.parametrize("spec, want", [
    ("all", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ("every:4", [0, 4, 8]),
    ("5,2", [5, 2]),
    ("-1", [9]),
    ("2:5", [2, 3, 4]),
    ("7:", [7, 8, 9]),
    (":2", [0, 1]),
    ("-3:", [7, 8, 9]),
    ("0:10:3", [0, 3, 6, 9]),
    ("0, 4:6, every:5", [0, 4, 5]),  # each layer once, in the order first given
])
def test_grammar_resolves_against_the_model_depth(spec, want):
    assert layers_from_spec(spec, 10) == want
    assert resolve_layers(spec, 10) == want


@pytest.mark.parametrize("spec", ["", "some", "1,,2", "1.5", "every:", "every:0", "1:2:0", "1-3", "1:2:3:4"])
def test_bad_specs_are_refused_without_a_model(spec):
    with pytest.raises(ValueError, match="--layers"):
        check_layer_spec(spec)


def test_studies_and_extract_read_the_same_grammar(tiny):
    from veracity.experiments.truth.truth_sweep import SweepConfig

    model = tiny("llama")
    assert SweepConfig(dataset="cities", layers="1:3").layer_indices(model.n_layers) == [1, 2]
    texts = ["the city of paris is in france", "tokyo is in japan"]
    by_range = extract(model, texts, layers="1:3", progress=False)
    by_list = extract(model, texts, layers=[1, 2], progress=False)
    torch.testing.assert_close(by_range, by_list, rtol=0, atol=0)
