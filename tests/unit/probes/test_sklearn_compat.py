"""The probes are scikit-learn estimators: check_estimator, scoring, ensembles, calibration, pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import VotingClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from veracity.probes import (
    CCS,
    EXPECTED_FAILED_CHECKS,
    CRCProbe,
    LogisticProbe,
    MassMeanProbe,
    PolarityAwareCCS,
    RandomDirectionProbe,
)


@parametrize_with_checks([LogisticProbe(), MassMeanProbe()],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_at_most_three_expected_failures_each():
    assert set(EXPECTED_FAILED_CHECKS) == {"LogisticProbe", "MassMeanProbe"}
    assert all(len(checks) <= 3 and all(reasons.values()) for reasons in EXPECTED_FAILED_CHECKS.values()
               for checks in [reasons])


def _planted(n=120, d=10, seed=0):
    gen = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = gen.normal(size=(n, d)) + 1.5 * np.outer(2 * y - 1, np.eye(d)[0])
    return x, y


def test_predict_proba_is_n_by_2_with_p_true_in_column_1():
    x, y = _planted()
    for probe in (LogisticProbe(), MassMeanProbe()):
        probe.fit(x, y)
        proba = probe.predict_proba(x)
        assert proba.shape == (len(x), 2) and np.allclose(proba.sum(1), 1)
        np.testing.assert_allclose(proba[:, 1], probe.predict_true(x))
        np.testing.assert_allclose(np.exp(probe.predict_log_proba(x)), proba, rtol=1e-6)
        assert probe.n_features_in_ == x.shape[1] and list(probe.classes_) == [0, 1]


@pytest.mark.parametrize("labels", [["false", "true"], [False, True], [-1, 1], [3.0, 7.0]])
def test_any_two_label_classes(labels):
    x, y = _planted()
    named = np.array(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    probe = LogisticProbe().fit(x, named)
    assert list(probe.classes_) == sorted(labels)
    assert (probe.predict(x) == named).mean() > 0.9
    np.testing.assert_allclose(probe.predict_true(x), LogisticProbe().fit(x, y).predict_true(x))


def test_neg_log_loss_cross_validation_is_finite():
    x, y = _planted()
    for probe in (LogisticProbe(C=0.1), MassMeanProbe()):
        scores = cross_val_score(probe, x, y, cv=3, scoring="neg_log_loss")
        assert np.isfinite(scores).all() and (scores < 0).all() and scores.mean() > -0.6


def test_soft_voting_calibration_and_grid_search_in_a_pipeline():
    x, y = _planted()
    voting = VotingClassifier([("lr", LogisticProbe()), ("mm", MassMeanProbe())], voting="soft").fit(x, y)
    assert voting.predict_proba(x).shape == (len(x), 2) and voting.score(x, y) > 0.85
    calibrated = CalibratedClassifierCV(MassMeanProbe(), cv=3).fit(x, y)
    assert calibrated.predict_proba(x).shape == (len(x), 2) and calibrated.score(x, y) > 0.85
    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("probe", LogisticProbe())]),
                          {"probe__C": [0.01, 1.0]}, cv=3, scoring="neg_log_loss").fit(x, y)
    assert search.best_params_["probe__C"] in (0.01, 1.0) and search.score(x, y) > -0.6


@pytest.mark.parametrize("make, trailing", [(lambda: CCS(n_restarts=2, n_epochs=50), (2,)), (CRCProbe, (2,)),
                                            (RandomDirectionProbe, (2,)),
                                            (lambda: PolarityAwareCCS(n_restarts=2, n_epochs=50), (2, 2))])
def test_contrast_probes_follow_the_same_output_conventions(make, trailing):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, *trailing, 6, generator=gen), torch.arange(40) % 2
    probe = make().fit(x, y)
    proba = probe.predict_proba(x)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)
    assert list(probe.classes_) == [0, 1] and probe.n_features_in_ == 6
    assert set(np.unique(probe.predict(x))) <= {0, 1}
