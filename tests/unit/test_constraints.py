"""Declared constraints: one wording for every study option and probe hyperparameter."""

import math
from pathlib import Path

import pytest

from veracity.constraints import FRACTION, Interval, Options, check_constraints
from veracity.experiments.truth.truth_sweep import SweepConfig
from veracity.probes import CCS, LogisticProbe

ROOT = Path(__file__).resolve().parents[2]


class Settings:
    def __init__(self, **values):
        self.__dict__.update(values)


@pytest.mark.parametrize("rule, good, bad, text", [
    (FRACTION, [0.3, 0.999], [0, 1, 1.5, math.nan, True, "0.3"], "in (0, 1)"),
    (Interval(int, 0, note="0 = all"), [0, 7], [-1, 2.0, False], ">= 0 (0 = all)"),
    (Interval(int, 1), [1], [0], ">= 1"),
    (Interval(float, 0, closed="neither"), [1e-9, 3], [0, -1, math.inf], "> 0"),
    (Interval(float, 0, 1, closed="left"), [0, 0.5], [1], "in [0, 1)"),
    (Options("lora", "full"), ["lora"], ["LoRA", None], "one of lora, full"),
])
def test_rules_accept_and_describe(rule, good, bad, text):
    assert all(rule.accepts(v) for v in good) and not any(rule.accepts(v) for v in bad)
    assert rule.describe() == text


def test_the_message_names_the_setting_the_rule_and_the_value():
    with pytest.raises(ValueError, match=r"^--test-fraction must be in \(0, 1\), got 1\.5$"):
        check_constraints(Settings(test_fraction=1.5), {"test_fraction": [FRACTION]},
                          name=lambda f: "--" + f.replace("_", "-"))
    check_constraints(Settings(lr=None), {"lr": [Options(None), Interval(float, 0, closed="neither")]})


def test_studies_and_probes_check_their_declared_constraints():
    with pytest.raises(ValueError, match=r"--test-fraction must be in \(0, 1\), got 0"):
        SweepConfig(dataset="cities", test_fraction=0)
    with pytest.raises(ValueError, match=r"--batch-size must be >= 1, got 0"):
        SweepConfig(dataset="cities", batch_size=0)
    with pytest.raises(ValueError, match=r"^C must be > 0, got -1$"):
        LogisticProbe(C=-1).fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match=r"^n_restarts must be >= 1, got 2\.5$"):
        CCS(n_restarts=2.5).fit([[[0.0], [1.0]], [[1.0], [0.0]]])


def test_no_study_writes_a_fraction_check_by_hand():
    hand_written = [path for folder in ("experiments", "probes") for path in (ROOT / folder).rglob("*.py")
                    if "must be in (0, 1)" in path.read_text()]
    assert not hand_written, f"declare FRACTION in the config's constraints instead: {hand_written}"
