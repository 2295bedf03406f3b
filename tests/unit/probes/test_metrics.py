"""Metrics: hand-computed calibration errors, AUROC parity, bootstrap intervals."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from veracity.probes import accuracy, auroc, bootstrap_ci, brier, ece, mce, reliability_diagram

PROBS = np.array([0.1, 0.3, 0.35, 0.55, 0.75, 0.95])
LABELS = np.array([0, 0, 1, 1, 1, 0])


def test_brier_hand_computed():
    # (0.01 + 0.09 + 0.4225 + 0.2025 + 0.0625 + 0.9025) / 6 = 1.69 / 6
    assert brier(PROBS, LABELS) == pytest.approx(1.69 / 6)


def test_ece_mce_uniform_bins_hand_computed():
    # 5 bins of width 0.2, right-closed:
    #   (0, .2]  {.1}       conf .1   freq 0   gap .1    n=1
    #   (.2, .4] {.3, .35}  conf .325 freq .5  gap .175  n=2
    #   (.4, .6] {.55}      conf .55  freq 1   gap .45   n=1
    #   (.6, .8] {.75}      conf .75  freq 1   gap .25   n=1
    #   (.8, 1]  {.95}      conf .95  freq 0   gap .95   n=1
    # ECE = (.1 + 2*.175 + .45 + .25 + .95) / 6 = 2.1 / 6 = 0.35; MCE = 0.95
    assert ece(PROBS, LABELS, n_bins=5) == pytest.approx(0.35)
    assert mce(PROBS, LABELS, n_bins=5) == pytest.approx(0.95)


def test_ece_mce_quantile_bins_hand_computed():
    # 3 equal-mass bins of the sorted scores: {.1,.3} conf .2 freq 0 gap .2;
    # {.35,.55} conf .45 freq 1 gap .55; {.75,.95} conf .85 freq .5 gap .35.
    # ECE = 2 * (.2 + .55 + .35) / 6 = 2.2 / 6; MCE = .55
    assert ece(PROBS, LABELS, n_bins=3, strategy="quantile") == pytest.approx(2.2 / 6)
    assert mce(PROBS, LABELS, n_bins=3, strategy="quantile") == pytest.approx(0.55)


def test_ece_top_label_hand_computed():
    # confidence max(p, 1-p) and correctness of the prediction p > 0.5:
    #   .1->(.9, right) .3->(.7, right) .35->(.65, wrong) .55->(.55, right) .75->(.75, right)
    #   .95->(.95, wrong). Bins of 0.2: (.4,.6] {.55} gap |1-.55| = .45;
    #   (.6,.8] {.7,.65,.75} conf .7 acc 2/3 gap 1/30; (.8,1] {.9,.95} conf .925 acc .5 gap .425
    # ECE = (.45 + 3/30 + 2*.425) / 6 = 1.4 / 6; MCE = .45
    assert ece(PROBS, LABELS, n_bins=5, kind="top_label") == pytest.approx(1.4 / 6)
    assert mce(PROBS, LABELS, n_bins=5, kind="top_label") == pytest.approx(0.45)


def test_reliability_diagram_bins():
    diagram = reliability_diagram(torch.tensor(PROBS), torch.tensor(LABELS), n_bins=5)
    np.testing.assert_array_equal(diagram.count, [1, 2, 1, 1, 1])
    torch.testing.assert_close(diagram.bin_centre, np.array([0.1, 0.3, 0.5, 0.7, 0.9]))
    torch.testing.assert_close(diagram.confidence, np.array([0.1, 0.325, 0.55, 0.75, 0.95]))
    torch.testing.assert_close(diagram.frequency, np.array([0.0, 0.5, 1.0, 1.0, 0.0]))
    sparse = reliability_diagram(PROBS, LABELS, n_bins=20)
    assert sparse.count.sum() == 6 and np.isnan(sparse.confidence[sparse.count == 0]).all()


def test_perfectly_calibrated_scores_have_small_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20_000)
    y = rng.uniform(size=p.size) < p
    assert ece(p, y.astype(int), n_bins=10) < 0.02
    assert ece(np.clip(p * 1.5, 0, 1), y.astype(int), n_bins=10) > 0.1


def test_accuracy_and_auroc_hand_computed():
    assert accuracy(PROBS, LABELS) == pytest.approx(4 / 6)  # right: .1, .3, .55, .75
    # positives {.35,.55,.75} vs negatives {.1,.3,.95}: wins 2+2+2 of 9 pairs
    assert auroc(PROBS, LABELS) == pytest.approx(6 / 9)


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(size=500) + y, 1)  # rounding creates many ties
    assert auroc(scores, y) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_bootstrap_ci_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + y
    ci = bootstrap_ci(auroc, scores, y, n_boot=300, seed=3)
    assert ci.estimate == pytest.approx(auroc(scores, y))
    assert ci.low < ci.estimate < ci.high and ci.high - ci.low < 0.2
    assert bootstrap_ci(auroc, scores, y, n_boot=300, seed=3) == ci
    assert bootstrap_ci(auroc, scores, y, n_boot=300, seed=4) != ci


def test_bootstrap_ci_fails_when_metric_always_fails():
    with pytest.raises(ValueError, match="failed on every bootstrap resample"):
        bootstrap_ci(auroc, [0.2, 0.4], [1, 1], n_boot=10)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ece([0.2, 1.5], [0, 1]), "probs must lie in \\[0, 1\\]"),
        (lambda: ece([0.2, 0.5], [0, 1], strategy="kmeans"), "strategy must be"),
        (lambda: ece([0.2, 0.5], [0, 1], kind="classwise"), "kind must be"),
        (lambda: auroc([0.2, 0.5], [1, 1]), "needs both classes 0 and 1"),
        (lambda: accuracy([0.2, 0.5], [0, 2]), "only 0 and 1"),
        (lambda: brier([0.2, 0.5], [0, 1, 1]), "labels has 3 labels for 2 examples"),
        (lambda: brier([], []), "non-empty 1-D"),
    ],
)
def test_metric_input_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_vectorised_bootstrap_equals_the_plain_loop():
    from veracity.probes import accuracy, auroc, bootstrap_accuracy_auroc, bootstrap_ci

    gen = np.random.default_rng(3)
    p, y = gen.random(80), (gen.random(80) > 0.4).astype(int)
    fast = bootstrap_accuracy_auroc(p, y, n_boot=300, seed=7)
    assert fast["auroc"] == bootstrap_ci(auroc, p, y, n_boot=300, seed=7)
    assert fast["accuracy"] == bootstrap_ci(accuracy, p, y, n_boot=300, seed=7)


def test_group_bootstrap_resamples_whole_groups():
    rng = np.random.default_rng(0)
    p, y = rng.random(40), rng.integers(0, 2, 40)
    copies = 5  # every example appears 5 times, as one group: no more information than 40 rows
    p5, y5, g5 = np.repeat(p, copies), np.repeat(y, copies), np.repeat(np.arange(40) * 7 + 3, copies)
    grouped = bootstrap_ci(accuracy, p5, y5, n_boot=400, seed=1, groups=g5)
    assert grouped == bootstrap_ci(accuracy, p, y, n_boot=400, seed=1)  # same draws, group by group
    naive = bootstrap_ci(accuracy, p5, y5, n_boot=400, seed=1)
    assert naive.high - naive.low < 0.7 * (grouped.high - grouped.low)
    with pytest.raises(ValueError, match="one id per example"):
        bootstrap_ci(accuracy, p, y, groups=np.arange(3))


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("n", [7, 51, 400])
def test_auroc_bootstrap_computed_at_once_equals_the_loop_resample_by_resample(n, grouped):
    """bootstrap_ci(auroc, ...) takes a vectorised path; the loop over resamples (any other callable) is its
    reference: the same draws, each resample's AUROC equal, ties and one-class resamples (small n) included."""
    gen = np.random.default_rng(n)
    y = (gen.random(n) > 0.7).astype(int)
    y[:2] = [0, 1]
    scores = np.round(gen.normal(size=n) + y, 1)  # ties
    groups = gen.integers(0, max(2, n // 3), n) if grouped else None
    fast = bootstrap_ci(auroc, scores, y, n_boot=500, seed=5, groups=groups)
    loop = bootstrap_ci(lambda s, t: auroc(s, t), scores, y, n_boot=500, seed=5, groups=groups)
    assert fast.estimate == loop.estimate
    assert fast.low == pytest.approx(loop.low, abs=1e-12) and fast.high == pytest.approx(loop.high, abs=1e-12)
    from veracity.probes.metrics import _bootstrap_aurocs, _group_members, _resample_weights

    members = _group_members(groups, n) if grouped else None
    weights = _resample_weights(n, members, np.random.default_rng(5), 500, block=64)
    values = _bootstrap_aurocs(scores.astype(float), y.astype(float), weights)
    reference = []
    rng = np.random.default_rng(5)
    for _ in range(500):
        idx = (rng.integers(0, n, n) if members is None
               else np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))]))
        if 0 < y[idx].sum() < len(idx):
            reference.append(roc_auc_score(y[idx], scores[idx]))
    np.testing.assert_allclose(values, reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("grouped", [False, True])
def test_mean_bootstrap_computed_at_once_equals_the_loop(grouped):
    from veracity.probes.metrics import sample_mean

    gen = np.random.default_rng(1)
    values = (gen.random(90) > 0.6).astype(float)
    groups = gen.integers(0, 30, 90) if grouped else None
    fast = bootstrap_ci(sample_mean, values, np.zeros(90), n_boot=400, seed=2, groups=groups)
    loop = bootstrap_ci(lambda v, _: float(np.mean(v)), values, np.zeros(90), n_boot=400, seed=2, groups=groups)
    assert fast.estimate == loop.estimate
    assert fast.low == pytest.approx(loop.low, abs=1e-12) and fast.high == pytest.approx(loop.high, abs=1e-12)


@pytest.mark.parametrize("grouped", [False, True])
def test_calibration_bootstraps_computed_at_once_equal_the_loop(grouped):
    """ece, mce and brier take a vectorised path in bootstrap_ci; the loop (any other callable) is the reference."""
    from veracity.probes.metrics import brier, ece, mce

    gen = np.random.default_rng(3)
    p = np.round(gen.random(120), 2)
    p[:3] = [0.0, 0.1, 1.0]  # bin edges
    y = (gen.random(120) < p).astype(float)
    groups = gen.integers(0, 40, 120) if grouped else None
    for metric in (ece, mce, brier):
        fast = bootstrap_ci(metric, p, y, n_boot=300, seed=4, groups=groups)
        loop = bootstrap_ci(lambda a, b, m=metric: m(a, b), p, y, n_boot=300, seed=4, groups=groups)
        assert fast.estimate == loop.estimate, metric.__name__
        assert fast.low == pytest.approx(loop.low, abs=1e-12) and fast.high == pytest.approx(loop.high, abs=1e-12)
