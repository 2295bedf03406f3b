"""MassMeanProbe: difference of means, the iid (LDA) correction, calibrated probabilities."""

import numpy as np
import torch
from planted_data import cosine, make_acts
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from veracity.probes import MassMeanProbe


def test_direction_is_difference_of_class_means(acts):
    probe = MassMeanProbe().fit(acts.X, acts.y)
    diff = acts.X[acts.y == 1].double().mean(0) - acts.X[acts.y == 0].double().mean(0)
    torch.testing.assert_close(probe.direction_, (diff / diff.norm()).float())


def test_iid_direction_matches_lda(acts):
    probe = MassMeanProbe(iid=True).fit(acts.X, acts.y)
    lda = LinearDiscriminantAnalysis().fit(acts.X.double().numpy(), acts.y.numpy())
    assert cosine(probe.direction_, torch.from_numpy(lda.coef_[0])) > 0.9999


def test_iid_without_ridge_reproduces_lda_probabilities(acts):
    probe = MassMeanProbe(iid=True, ridge=0.0).fit(acts.X, acts.y)
    lda = LinearDiscriminantAnalysis().fit(acts.X.double().numpy(), acts.y.numpy())
    torch.testing.assert_close(probe.predict_true(acts.X_test),
                               lda.predict_proba(acts.X_test.double().numpy())[:, 1], atol=1e-8,
                               rtol=1e-6)


def test_recovers_planted_direction(acts):
    for iid in (False, True):
        probe = MassMeanProbe(iid=iid).fit(acts.X, acts.y)
        assert cosine(probe.direction_, acts.truth) > 0.95
        assert probe.score(acts.X_test, acts.y_test) > 0.9


def test_probability_is_calibrated_on_gaussian_classes(acts):
    # Equal-variance Gaussian classes: the fitted LDA posterior should be calibrated, so the
    # mean predicted probability tracks the empirical rate (within sampling noise).
    probe = MassMeanProbe().fit(acts.X, acts.y)
    proba = probe.predict_true(acts.X_test)
    assert abs(proba.mean() - acts.y_test.double().mean().item()) < 0.03


def test_iid_handles_more_features_than_examples():
    data = make_acts(seed=7, n=80, d=64)
    probe = MassMeanProbe(iid=True).fit(data.X, data.y)
    assert torch.isfinite(probe.direction_).all()
    assert np.isfinite(probe.predict_true(data.X_test)).all()
    assert probe.score(data.X, data.y) > 0.9
