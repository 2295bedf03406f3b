"""Every experiment script ends bad input with one line that says what went wrong, not a traceback."""

import pytest

from veracity import cli
from veracity.experiments import demo
from veracity.experiments.knowing import calibration_gap, pik
from veracity.experiments.steering import east_bandit, honesty_steering
from veracity.experiments.truth import polarity, transfer, truth_sweep

UNKNOWN_MODEL = "could not load model 'no-such-model'"


@pytest.mark.parametrize(("script", "argv", "message"), [
    (truth_sweep, ["--dataset", "no_such.csv"], "no dataset file at no_such.csv"),
    (truth_sweep, ["--dataset", "cities", "--model", "no-such-model"], UNKNOWN_MODEL),
    (polarity, ["--model", "no-such-model"], UNKNOWN_MODEL),
    (pik, ["--model", "no-such-model"], UNKNOWN_MODEL),
    (calibration_gap, ["--model", "no-such-model"], UNKNOWN_MODEL),
    (transfer, ["--model", "no-such-model"], UNKNOWN_MODEL),
    (honesty_steering, ["--model", "no-such-model"], UNKNOWN_MODEL),
    (east_bandit, ["--model", "no-such-model"], UNKNOWN_MODEL),
    (demo, ["--model", "no-such-model", "--out", "{tmp}"], UNKNOWN_MODEL),
])
def test_bad_input_is_one_line(script, argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VERACITY_DEBUG", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as done:
        script.main(argv)
    text = capsys.readouterr().err
    assert done.value.code == 2
    assert text.startswith(f"python -m {script.__name__}: error: ") and message in text
    assert text.count("\n") == 1
    # The same study through the one command line: same line, its own program name, exit code 2.
    study = script.__name__.rsplit(".", 1)[1]
    with pytest.raises(SystemExit) as done:
        cli.main(["run", study, *argv])
    text = capsys.readouterr().err
    assert done.value.code == 2 and text.startswith(f"veracity run {study}: error: ") and message in text
    assert text.count("\n") == 1


def test_debug_keeps_the_traceback(monkeypatch):
    monkeypatch.setenv("VERACITY_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        truth_sweep.main(["--dataset", "no_such.csv"])
