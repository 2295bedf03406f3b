"""Misuse fails early with a one-line message that says what to do."""

import numpy as np
import pytest
import torch

from veracity.probes import (
    CCS,
    CRCProbe,
    LogisticProbe,
    MassMeanProbe,
    NotFittedError,
    PIKHead,
    PolarityAwareCCS,
    RandomDirectionProbe,
)

FAST = dict(n_restarts=1, n_epochs=5)
# probe constructor, trailing axes of its input
PROBES = {
    "LogisticProbe": (LogisticProbe, ()),
    "MassMeanProbe": (MassMeanProbe, ()),
    "PIKHead": (PIKHead, ()),
    "CCS": (lambda: CCS(**FAST), (2,)),
    "CRCProbe": (CRCProbe, (2,)),
    "RandomDirectionProbe": (RandomDirectionProbe, (2,)),
    "PolarityAwareCCS": (lambda: PolarityAwareCCS(**FAST), (2, 2)),
}
LAYOUT = {(): "(n, d_model)", (2,): "(n, 2, d_model)", (2, 2): "(n, 2, 2, d_model)"}


def _data(trailing, n=20, d=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *trailing, d, generator=gen), torch.arange(n) % 2


@pytest.mark.parametrize("name", sorted(PROBES))
def test_use_before_fit(name):
    make, trailing = PROBES[name]
    x, _ = _data(trailing)
    with pytest.raises(NotFittedError, match=f"{name} is not fitted yet: call fit first"):
        make().predict_true(x)
    with pytest.raises(NotFittedError, match="call fit first"):
        make().save("never-written")


@pytest.mark.parametrize("name", sorted(PROBES))
def test_shape_and_width_errors(name):
    make, trailing = PROBES[name]
    x, y = _data(trailing)
    wrong = torch.randn(20, *trailing, 3, 8) if len(trailing) < 2 else torch.randn(20, 8)
    # Plain-activation classifiers validate the scikit-learn way (and with its messages).
    sklearn_style = name in ("LogisticProbe", "MassMeanProbe")
    shape_message = ("Found array with dim 3" if sklearn_style else
                     f"X must have shape {LAYOUT[trailing]}".replace("(", "\\(").replace(")", "\\)"))
    with pytest.raises(ValueError, match=shape_message):
        make().fit(wrong, y)
    with pytest.raises(ValueError, match="0 sample" if sklearn_style else "X is empty"):
        make().fit(x[:0], y[:0])
    probe = make().fit(x, y)
    width_message = (f"X has 12 features, but {name} is expecting 8 features as input" if not trailing else
                     "probe was fit on d_model=8, got 12")
    with pytest.raises(ValueError, match=width_message):
        probe.predict(torch.randn(5, *trailing, 12))


@pytest.mark.parametrize("name", sorted(set(PROBES) - {"PIKHead"}))
def test_label_errors(name):
    make, trailing = PROBES[name]
    x, y = _data(trailing)
    sklearn_style = name in ("LogisticProbe", "MassMeanProbe")
    with pytest.raises(ValueError, match="needs labels of both classes" if sklearn_style else
                       "needs both classes 0 and 1"):
        make().fit(x, torch.ones(20))
    with pytest.raises(ValueError, match="Only binary classification is supported" if sklearn_style else
                       "must contain only 0 and 1"):
        make().fit(x, np.arange(20) % 3)
    with pytest.raises(ValueError, match="inconsistent numbers of samples" if sklearn_style else
                       "y has 19 labels for 20 examples"):
        make().fit(x, y[:19])


def test_soft_label_errors():
    x, _ = _data(())
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        PIKHead().fit(x, torch.linspace(-1, 1, 20))
    with pytest.raises(ValueError, match="y is constant"):
        PIKHead().fit(x, torch.full((20,), 0.3))


def test_non_finite_and_non_numeric_inputs():
    x, y = _data(())
    x[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        LogisticProbe().fit(x, y)
    with pytest.raises(ValueError, match="could not convert string to float"):
        LogisticProbe().fit(np.array([["a", "b"], ["c", "d"]]), [0, 1])


@pytest.mark.parametrize(
    "probe, message",
    [
        (CCS(optimizer="sgd"), "optimizer must be 'adam' or 'lbfgs'"),
        (CCS(normalize="l2"), "normalize must be one of"),
        (CCS(n_restarts=0), "n_restarts must be >= 1"),
        (CRCProbe(normalize="zscore"), "normalize must be one of"),
        (PolarityAwareCCS(polarity_weight=-1.0), "polarity_weight must be >= 0"),
    ],
)
def test_bad_hyperparameters_fail_at_fit(probe, message):
    trailing = probe._input_trailing
    x, _ = _data(trailing)
    with pytest.raises(ValueError, match=message):
        probe.fit(x)


def test_bad_supervised_hyperparameters():
    x, y = _data(())
    with pytest.raises(ValueError, match="C must be > 0"):
        LogisticProbe(C=0).fit(x, y)
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        MassMeanProbe(ridge=-1).fit(x, y)
    with pytest.raises(ValueError, match="hidden must be None"):
        PIKHead(hidden=0).fit(x, y.float())
