"""LogisticProbe: parity with scikit-learn, planted-direction recovery, raw-space direction."""

import numpy as np
import pytest
import torch
from planted_data import cosine
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler

from veracity.probes import LogisticProbe


@pytest.mark.parametrize("C", [0.05, 1.0, 20.0])
def test_matches_sklearn_on_standardized_data(acts, C):
    probe = LogisticProbe(C=C, tol=1e-8).fit(acts.X, acts.y)
    x, x_test = acts.X.double().numpy(), acts.X_test.double().numpy()
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000)
    ref.fit(scaler.transform(x), acts.y.numpy())
    torch.testing.assert_close(probe.coef_, torch.from_numpy(ref.coef_[0]), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(probe.intercept_, torch.tensor(ref.intercept_[0]).double(),
                               atol=1e-4, rtol=1e-4)
    expected = ref.predict_proba(scaler.transform(x_test))[:, 1]
    torch.testing.assert_close(probe.predict_true(acts.X_test), expected, atol=1e-5, rtol=0)


def test_matches_sklearn_without_standardization(acts):
    x, x_test = acts.X.double().numpy(), acts.X_test.double().numpy()
    probe = LogisticProbe(C=0.5, standardize=False, tol=1e-8).fit(x, acts.y.numpy())
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(x, acts.y.numpy())
    torch.testing.assert_close(probe.coef_, torch.from_numpy(ref.coef_[0]), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(probe.predict_true(x_test), ref.predict_proba(x_test)[:, 1],
                               atol=1e-5, rtol=0)


def test_sample_weights_match_sklearns_and_bad_weights_fail_in_one_line(acts):
    x, y = acts.X.double().numpy(), acts.y.numpy()
    weights = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    probe = LogisticProbe(C=0.5, tol=1e-8).fit(acts.X, acts.y, sample_weight=weights)
    scaler = StandardScaler().fit(x, sample_weight=weights)  # a weight of 2 counts the row twice here too
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(scaler.transform(x), y, sample_weight=weights)
    torch.testing.assert_close(probe.coef_, torch.from_numpy(ref.coef_[0]), atol=1e-4, rtol=1e-4)
    unweighted = LogisticProbe(C=0.5, tol=1e-8).fit(acts.X, acts.y)
    assert not torch.allclose(unweighted.coef_, probe.coef_, atol=1e-3)
    same = LogisticProbe(C=0.5, tol=1e-8).fit(acts.X, acts.y, sample_weight=torch.ones(len(y)))
    torch.testing.assert_close(same.coef_, unweighted.coef_)
    for bad in (weights[:-1], -weights, np.zeros(len(y)), np.full(len(y), np.nan), ["a"] * len(y)):
        with pytest.raises(ValueError, match="one finite, non-negative weight per example"):
            LogisticProbe().fit(acts.X, acts.y, sample_weight=bad)


def test_default_tolerance_is_near_the_optimum(acts):
    """At the default (scikit-learn's) tolerance, held-out probabilities are within 5e-3 of the optimum's
    and every held-out label is the same."""
    quick, exact = LogisticProbe(C=1.0).fit(acts.X, acts.y), LogisticProbe(C=1.0, tol=1e-10).fit(acts.X, acts.y)
    assert quick.n_iter_ < exact.n_iter_
    torch.testing.assert_close(quick.predict_true(acts.X_test), exact.predict_true(acts.X_test), atol=5e-3, rtol=0)
    np.testing.assert_array_equal(quick.predict(acts.X_test), exact.predict(acts.X_test))


def test_recovers_planted_direction(acts):
    probe = LogisticProbe(C=0.01).fit(acts.X, acts.y)
    assert cosine(probe.direction_, acts.truth) > 0.95
    assert probe.score(acts.X_test, acts.y_test) > 0.9


def test_direction_is_unit_float32_in_raw_space(acts):
    probe = LogisticProbe().fit(acts.X, acts.y)
    assert probe.direction_.dtype == torch.float32 and probe.direction_.shape == (32,)
    torch.testing.assert_close(probe.direction_.norm(), torch.tensor(1.0))
    # Moving a raw activation by t along direction_ raises the logit by t * ||coef_ / scale_||
    # (up to the float32 rounding of direction_).
    step = 0.5 * probe.direction_.double()
    gain = probe.decision_function(acts.X_test + step) - probe.decision_function(acts.X_test)
    expected = 0.5 * (probe.coef_ / probe.scale_).norm().item()
    torch.testing.assert_close(gain, np.full(len(gain), expected), atol=1e-6, rtol=1e-6)


def test_standardization_uses_training_split_only(acts):
    probe = LogisticProbe().fit(acts.X, acts.y)
    torch.testing.assert_close(probe.mean_, acts.X.double().mean(dim=0))
    one_by_one = np.concatenate([probe.predict_true(acts.X_test[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(one_by_one, probe.predict_true(acts.X_test[:5]))


def test_works_inside_sklearn_tools(acts):
    probe = LogisticProbe(C=0.3)
    assert clone(probe).get_params() == {"C": 0.3, "standardize": True, "max_iter": 1000,
                                         "tol": 1e-4, "device": None}
    scores = cross_val_score(probe, acts.X.numpy(), acts.y.numpy(), cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
