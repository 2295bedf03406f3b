"""PIKHead: soft labels, agreement with LogisticProbe, the MLP head."""

import numpy as np
import pytest
import torch
from planted_data import cosine

from veracity.probes import LogisticProbe, PIKHead


def test_linear_head_on_hard_labels_equals_logistic_probe(acts):
    weight_decay = 0.01
    head = PIKHead(weight_decay=weight_decay).fit(acts.X, acts.y)
    logistic = LogisticProbe(C=1.0 / (len(acts.y) * weight_decay), tol=1e-8).fit(acts.X, acts.y)
    torch.testing.assert_close(head.predict_true(acts.X_test), logistic.predict_true(acts.X_test),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(head.direction_, logistic.direction_, atol=1e-5, rtol=0)


def test_linear_head_recovers_planted_logit_from_soft_labels(pik):
    head = PIKHead().fit(pik.X, pik.y)
    assert cosine(head.direction_, pik.truth) > 0.98
    assert np.abs(head.predict_true(pik.X_test) - pik.y_test.numpy()).mean() < 0.05


def test_mlp_head_recovers_planted_logit(pik):
    head = PIKHead(hidden=16, n_epochs=300, seed=1).fit(pik.X, pik.y)
    again = PIKHead(hidden=16, n_epochs=300, seed=1).fit(pik.X, pik.y)
    torch.testing.assert_close(head.predict_true(pik.X_test), again.predict_true(pik.X_test))
    assert cosine(head.direction_, pik.truth) > 0.95
    assert np.abs(head.predict_true(pik.X_test) - pik.y_test.numpy()).mean() < 0.15


def test_score_binarizes_soft_labels(pik):
    head = PIKHead().fit(pik.X, pik.y)
    expected = np.mean(head.predict(pik.X_test) == (pik.y_test.numpy() > 0.5))
    assert head.score(pik.X_test, pik.y_test) == pytest.approx(expected)
