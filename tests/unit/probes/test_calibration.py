"""TemperatureScaling and PlattScaling: maximum-likelihood parity and effect on ECE."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from veracity.probes import NotFittedError, PlattScaling, TemperatureScaling, ece


def _overconfident(seed: int, n: int, temperature: float = 2.5, shift: float = 0.0):
    """Logits whose true probabilities are sigmoid(z / temperature + shift)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=n)
    y = (rng.uniform(size=n) < expit(z / temperature + shift)).astype(int)
    return z, y


def test_temperature_is_the_maximum_likelihood_value():
    z, y = _overconfident(0, 2000)
    ts = TemperatureScaling().fit(z, y)

    def nll(t):
        p = np.clip(expit(z / t), 1e-12, 1 - 1e-12)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    best = minimize_scalar(nll, bounds=(0.1, 10.0), method="bounded", options={"xatol": 1e-9})
    assert ts.temperature_ == pytest.approx(best.x, abs=1e-4)
    assert ts.temperature_ == pytest.approx(2.5, abs=0.3)


def test_platt_matches_unregularized_sklearn_logistic():
    z, y = _overconfident(1, 2000, shift=0.7)
    platt = PlattScaling().fit(torch.from_numpy(z), torch.from_numpy(y))
    ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(z[:, None], y)
    assert platt.a_ == pytest.approx(ref.coef_[0, 0], abs=1e-4)
    assert platt.b_ == pytest.approx(ref.intercept_[0], abs=1e-4)
    torch.testing.assert_close(platt.predict_proba(z), ref.predict_proba(z[:, None])[:, 1],
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("calibrator, shift", [(TemperatureScaling(), 0.0), (PlattScaling(), 0.5)])
def test_calibrators_lower_held_out_ece(calibrator, shift):
    # Overconfident logits (true temperature 2.5); Platt also has to remove a bias of `shift`,
    # which a temperature alone cannot.
    z_cal, y_cal = _overconfident(2, 3000, shift=shift)
    z_test, y_test = _overconfident(3, 3000, shift=shift)
    raw = ece(expit(z_test), y_test)
    assert raw > 0.05
    calibrated = calibrator.fit(z_cal, y_cal).predict_proba(z_test)
    assert ece(calibrated, y_test) < raw / 3


def test_calibrator_errors():
    with pytest.raises(NotFittedError, match="call fit first"):
        TemperatureScaling().predict_proba([0.1, 0.2])
    with pytest.raises(ValueError, match="logits must have shape \\(n,\\)"):
        PlattScaling().fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="needs both classes 0 and 1"):
        TemperatureScaling().fit([0.1, 0.2], [1, 1])
