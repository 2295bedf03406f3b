"""The steering experiments' options and bad settings (their end-to-end runs on the embedded model are in
tests/acceptance/experiments/test_steering_experiments_acceptance.py)."""


import pytest


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
