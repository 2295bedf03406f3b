"""PolarityAwareCCS and the polarity metrics."""

import pytest
import torch
from planted_data import cosine

from veracity.probes import CCS, PolarityAwareCCS, contradiction_index, polar_consistency
from veracity.probes.polarity import polarity_loss

# Two statement pairs, columns (pA0, pA1, pnA0, pnA1):
#   pair 1 (0.1, 0.9, 0.8, 0.2): A true, not-A false, coherent.
#   pair 2 (0.6, 0.7, 0.2, 0.3): A and not-A both lean "yes"; A also leans "no" more than not-A.
P_A0, P_A1, P_NA0, P_NA1 = [0.1, 0.6], [0.9, 0.7], [0.8, 0.2], [0.2, 0.3]


def test_polar_consistency_hand_computed():
    # pair 1: 0.5 * ((0.9-0.8)^2 + (0.1-0.2)^2) = 0.01; signs (+)(+) -> +0.01
    # pair 2: 0.5 * ((0.7-0.2)^2 + (0.6-0.3)^2) = 0.17; sign(0.7-0.3)=+, sign(0.2-0.6)=- -> -0.17
    # mean = (0.01 - 0.17) / 2 = -0.08
    assert polar_consistency(P_A0, P_A1, P_NA0, P_NA1) == pytest.approx(-0.08)


def test_contradiction_index_hand_computed():
    # pair 1: 0.9*0.2 + 0.1*0.8 = 0.26; pair 2: 0.7*0.3 + 0.6*0.2 = 0.33; mean 0.295
    assert contradiction_index(P_A0, P_A1, P_NA0, P_NA1) == pytest.approx(0.295)


def test_polarity_loss_hand_computed():
    # One statement pair, one restart: A = (0.1, 0.9), not-A = (0.8, 0.2).
    # CCS over both pairs: confidence (0.01 + 0.04) / 2 = 0.025, consistency 0.
    # polarity: 0.5 * ((0.9-0.8)^2 + (0.1-0.2)^2) = 0.01, times weight 2 -> 0.02. Total 0.045.
    probs = torch.tensor([[0.1, 0.9], [0.8, 0.2]])[:, :, None]
    torch.testing.assert_close(polarity_loss(probs, n=1, weight=2.0), torch.tensor([0.045]))


def test_zero_weight_is_ccs_on_both_statements(polarity):
    probe = PolarityAwareCCS(polarity_weight=0.0, per_cell=False, n_restarts=3, n_epochs=200).fit(polarity.X)
    stacked = torch.cat([polarity.X[:, 0], polarity.X[:, 1]])
    ccs = CCS(n_restarts=3, n_epochs=200, normalize="meanvar").fit(stacked)
    torch.testing.assert_close(probe.restart_losses_, ccs.restart_losses_)
    torch.testing.assert_close(probe.coef_, ccs.coef_)


def test_recovers_planted_direction_and_reports(polarity):
    probe = PolarityAwareCCS(n_restarts=4, n_epochs=500).fit(polarity.X, polarity.y)
    assert cosine(probe.direction_, polarity.truth) > 0.9
    assert probe.predict_side_proba(polarity.X_test).shape == (400, 2, 2)
    report = probe.polarity_report(polarity.X_test, polarity.y_test)
    assert set(report) == {"polar_consistency", "contradiction_index", "accuracy"}
    assert report["accuracy"] > 0.95
    assert report["polar_consistency"] > 0  # coherent verdicts give the sign factor +1
    # Showing the probe A twice (instead of A and not-A) pushes it toward the same verdict for
    # both: the contradiction index rises.
    same = torch.stack([polarity.X_test[:, 0], polarity.X_test[:, 0]], dim=1)
    assert probe.polarity_report(same)["contradiction_index"] > report["contradiction_index"]


def test_polar_consistency_is_blind_to_identical_verdicts():
    # Identical outputs for A and not-A are the worst contradiction, yet the metric as defined
    # reports the ideal 0: its sign factor sign(pA1 - pnA1) vanishes. The contradiction index
    # catches the case.
    assert polar_consistency(P_A0, P_A1, P_A0, P_A1) == 0.0
    assert contradiction_index(P_A0, P_A1, P_A0, P_A1) > contradiction_index(P_A0, P_A1, P_NA0, P_NA1)


def test_polarity_term_lowers_polar_inconsistency(polarity):
    kwargs = dict(n_restarts=4, n_epochs=500)
    with_term = PolarityAwareCCS(polarity_weight=1.0, **kwargs).fit(polarity.X, polarity.y)
    without = PolarityAwareCCS(polarity_weight=0.0, **kwargs).fit(polarity.X, polarity.y)
    error = abs(with_term.polarity_report(polarity.X)["polar_consistency"])
    assert error < abs(without.polarity_report(polarity.X)["polar_consistency"])


def test_per_cell_normalisation_removes_the_not_shortcut(polarity):
    # "not" shifts not-A's "no" completion one way and its "yes" completion the other way, much
    # more strongly than truth moves anything. With statistics pooled over A and not-A, the
    # loss has a zero at "A false, not-A true" for every pair, read off that shift alone; the
    # four per-cell means remove it.
    shortcut = 10.0 * torch.nn.functional.normalize(torch.randn(polarity.X.shape[-1]), dim=0)

    def with_not(x):
        x = x.clone()
        x[:, 1, 0] -= shortcut
        x[:, 1, 1] += shortcut
        return x

    kwargs = dict(n_restarts=4, n_epochs=500)
    X, X_test = with_not(polarity.X), with_not(polarity.X_test)
    pooled = PolarityAwareCCS(per_cell=False, **kwargs).fit(X, polarity.y)
    per_cell = PolarityAwareCCS(**kwargs).fit(X, polarity.y)
    assert pooled.score(X_test, polarity.y_test) < 0.65
    assert per_cell.score(X_test, polarity.y_test) > 0.95
    assert cosine(per_cell.direction_, polarity.truth) > 0.9
