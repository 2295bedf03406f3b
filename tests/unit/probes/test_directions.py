"""Direction finding, written once: parity with scikit-learn / numpy references, batched over layers."""

import numpy as np
import torch
from sklearn.decomposition import PCA

from veracity.probes.directions import fix_sign, mean_difference, top_component, unit, weighted_mean_difference


def test_mean_difference_and_its_weighted_form():
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(7, 3, 5, generator=gen, dtype=torch.float64), torch.randn(4, 3, 5, generator=gen,
                                                                                       dtype=torch.float64)
    torch.testing.assert_close(mean_difference(pos, neg), pos.mean(0) - neg.mean(0))
    x, w = torch.cat([pos, neg]), torch.cat([torch.ones(7), torch.zeros(4)]).double()
    torch.testing.assert_close(weighted_mean_difference(x, w), 7 * 4 / 11 * mean_difference(pos, neg))


def test_top_component_matches_pca_per_layer():
    gen = np.random.default_rng(0)
    x = gen.normal(size=(30, 2, 6)) * np.array([5.0, 1, 1, 1, 1, 1])
    got = top_component(torch.from_numpy(x))
    for layer in range(2):
        ref = PCA(n_components=1).fit(x[:, layer]).components_[0]
        assert abs(float(np.dot(got[layer].numpy(), ref))) > 1 - 1e-9


def test_fix_sign_points_each_direction_where_most_evidence_is_positive():
    directions = unit(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    projections = torch.tensor([[1.0, -1.0], [2.0, -2.0], [-0.5, 3.0]])  # layer 0 mostly +, layer 1 mostly -
    fixed, flipped = fix_sign(directions, projections)
    assert flipped.tolist() == [False, True]
    torch.testing.assert_close(fixed, torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
