"""Acceptance: both steering experiments run end to end on the embedded model (small sizes).

These check files, JSON structure, GGUF round trips and that coefficient 0 reproduces the
baseline exactly. They do not assert that steering "works": the numbers are recorded as measured.
"""

import re

import gguf
import pytest
import torch

from veracity.steering import SteeringVector, from_gguf


def check_gguf_matches(vector_path, gguf_path):
    vector = SteeringVector.load(vector_path)
    reader = gguf.GGUFReader(str(gguf_path))
    assert reader.get_field("general.architecture").contents() == "controlvector"
    assert reader.get_field("controlvector.layer_count").contents() == len([L for L in vector.layers if L > 0])
    exported = from_gguf(gguf_path)
    assert exported.layers == [L for L in vector.layers if L > 0]
    for layer in exported.layers:
        assert torch.equal(exported[layer], vector[layer])
    return vector


def check_report(path):
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*src=[\"']https?:", html), "no external scripts: opens offline"
    assert "Plotly.newPlot" in html and len(html) > 1_000_000, "plotly.js inlined"


@pytest.mark.parametrize("module", ["veracity.experiments.steering.honesty_steering", "veracity.experiments.steering.east_bandit"])
def test_help_lists_every_option(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--model", "--device", "--seed"):
        assert option in text


def test_list_options_take_several_values_and_bad_ones_fail_in_one_line(capsys):
    from veracity.experiments.cli import parse_config
    from veracity.experiments.steering.honesty_steering import Config

    config = parse_config(Config, ["--layers", "8", "12", "--coefficients", "0", "0.5"])
    assert config.layers == [8, 12] and config.coefficients == [0.0, 0.5]
    with pytest.raises(SystemExit) as done:
        parse_config(Config, ["--coefficients", "0.5"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: coefficients must include 0 (the baseline) (see " in err
