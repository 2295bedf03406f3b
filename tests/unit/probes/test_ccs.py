"""CCS: parity with a plain-loop reference, planted-direction recovery, sign handling."""

import numpy as np
import pytest
import torch
from planted_data import cosine
from reference_ccs import fit_reference_ccs

from veracity.probes import CCS, ccs_loss
from veracity.probes.ccs import consensus_restart


def test_ccs_loss_hand_computed():
    # pairs (p0, p1) = (0.2, 0.9), (0.7, 0.4):
    # confidence  = mean(min^2)            = (0.04 + 0.16) / 2 = 0.10
    # consistency = mean((p0 - (1-p1))^2)  = (0.01 + 0.01) / 2 = 0.01
    probs = torch.tensor([[0.2, 0.9], [0.7, 0.4]])[:, :, None]
    torch.testing.assert_close(ccs_loss(probs), torch.tensor([0.11]))


def test_batched_restarts_match_plain_loop_reference(pairs):
    ccs = CCS(n_restarts=4, n_epochs=300, seed=5, normalize="meanvar", selection="loss").fit(pairs.X)
    ref = fit_reference_ccs(pairs.X, n_restarts=4, seed=5, n_epochs=300)
    torch.testing.assert_close(ccs.restart_losses_, torch.tensor(ref.losses), atol=1e-6, rtol=1e-4)
    assert ccs.best_restart_ == int(np.argmin(ref.losses))
    torch.testing.assert_close(ccs.coef_, ref.w, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ccs.predict_true(pairs.X_test),
                               ref.predict_proba(pairs.X_test).double().numpy(), atol=1e-5, rtol=0)


def test_one_restart_run_reproduces_batched_restart(pairs):
    batched = CCS(n_restarts=3, n_epochs=200, seed=10).fit(pairs.X)
    alone = CCS(n_restarts=1, n_epochs=200, seed=12).fit(pairs.X)  # restart 2 = seed 10 + 2
    torch.testing.assert_close(alone.restart_losses_[0], batched.restart_losses_[2],
                               atol=1e-6, rtol=1e-4)


def test_consensus_keeps_a_restart_of_the_majority_direction():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(200, 2, 16, generator=gen)
    truth, other = torch.eye(16)[0], torch.eye(16)[1]
    # seven restarts near one direction (either sign), three near another: consensus keeps one of the seven
    w = torch.stack([s * 3 * truth + 0.1 * torch.randn(16, generator=gen) for s in (1, -1, 1, 1, -1, 1, 1)]
                    + [3 * other + 0.1 * torch.randn(16, generator=gen) for _ in range(3)])
    order = torch.randperm(10, generator=gen)
    kept = consensus_restart(z, w[order], torch.zeros(10))
    assert int(order[kept]) < 7


def test_keeps_lowest_loss_restart(pairs):
    ccs = CCS(n_restarts=6, n_epochs=100, selection="loss").fit(pairs.X)
    assert ccs.restart_losses_.shape == (6,)
    assert ccs.loss_ == pytest.approx(float(ccs.restart_losses_.min()))
    assert ccs.best_restart_ == int(torch.argmin(ccs.restart_losses_))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_recovers_planted_direction_without_labels(pairs, optimizer):
    ccs = CCS(n_restarts=5, n_epochs=500, optimizer=optimizer).fit(pairs.X)
    assert ccs.sign_fixed_ is False
    assert abs(cosine(ccs.direction_, pairs.truth)) > 0.9
    accuracy = ccs.score(pairs.X_test, pairs.y_test)
    assert max(accuracy, 1 - accuracy) > 0.9


def test_labels_only_choose_the_sign(pairs):
    ccs = CCS(n_restarts=5, n_epochs=500).fit(pairs.X, pairs.y)
    flipped = CCS(n_restarts=5, n_epochs=500).fit(pairs.X, 1 - pairs.y)
    assert ccs.sign_fixed_ is True
    assert cosine(ccs.direction_, pairs.truth) > 0.9
    assert ccs.score(pairs.X_test, pairs.y_test) > 0.9
    torch.testing.assert_close(flipped.direction_, -ccs.direction_)
    torch.testing.assert_close(flipped.predict_true(pairs.X_test),
                               1 - ccs.predict_true(pairs.X_test))


def test_mean_normalization_also_recovers(pairs):
    ccs = CCS(n_restarts=5, n_epochs=500, normalize="mean").fit(pairs.X, pairs.y)
    torch.testing.assert_close(ccs.scale_, torch.ones(2, 32))
    assert cosine(ccs.direction_, pairs.truth) > 0.9


def test_direction_raises_truth_when_added_to_yes_side(pairs):
    ccs = CCS(n_restarts=3, n_epochs=300).fit(pairs.X)
    pushed = pairs.X_test.clone()
    pushed[:, 1] += 2.0 * ccs.direction_
    assert (ccs.predict_true(pushed) > ccs.predict_true(pairs.X_test)).all()


def test_normalization_statistics_come_from_training_pairs(pairs):
    ccs = CCS(n_restarts=2, n_epochs=50, normalize="meanvar").fit(pairs.X)
    torch.testing.assert_close(ccs.mean_, pairs.X.mean(dim=0))
    torch.testing.assert_close(ccs.scale_, pairs.X.std(dim=0, correction=0))
    single = np.concatenate([ccs.predict_true(pairs.X_test[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(single, ccs.predict_true(pairs.X_test[:4]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_written_out_gradient_is_autograds_bit_for_bit(dtype):
    p = torch.sigmoid(3 * torch.randn(282, 2, 10, generator=torch.Generator().manual_seed(1), dtype=dtype))
    p[0, 0, 0] = p[0, 1, 0]  # a tie: half the confidence gradient to each side
    leaf = p.clone().requires_grad_(True)
    ccs_loss(leaf).sum().backward()
    assert torch.equal(ccs_loss.grad(p), leaf.grad)


def test_training_with_the_written_gradient_equals_training_with_autograd(pairs):
    from veracity.probes.ccs import init_restarts, train_restarts

    z = pairs.X[:60].float()
    w0, b0 = init_restarts(z.shape[-1], n_restarts=3, seed=0)
    fast = train_restarts(z, w0, b0, ccs_loss, n_epochs=50)
    slow = train_restarts(z, w0, b0, lambda probs: ccs_loss(probs), n_epochs=50)  # no .grad: autograd
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a, b)
