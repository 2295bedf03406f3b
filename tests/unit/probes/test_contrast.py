"""CRC-TPC and random-direction baselines on contrast pairs."""

import torch
from planted_data import cosine
from sklearn.decomposition import PCA

from veracity.probes import CCS, CRCProbe, RandomDirectionProbe


def _normalized_differences(x: torch.Tensor) -> torch.Tensor:
    z = (x - x.mean(dim=0)) / x.std(dim=0, correction=0)
    return z[:, 1] - z[:, 0]


def test_crc_direction_is_top_principal_component(pairs):
    probe = CRCProbe(normalize="meanvar").fit(pairs.X)
    component = PCA(n_components=1).fit(_normalized_differences(pairs.X.double()).numpy())
    assert abs(cosine(probe.coef_, torch.from_numpy(component.components_[0]))) > 0.99999


def test_crc_recovers_planted_direction(pairs):
    probe = CRCProbe().fit(pairs.X)
    assert probe.sign_fixed_ is False
    assert abs(cosine(probe.direction_, pairs.truth)) > 0.9
    accuracy = probe.score(pairs.X_test, pairs.y_test)
    assert max(accuracy, 1 - accuracy) > 0.9


def test_labels_point_crc_toward_true(pairs):
    probe = CRCProbe().fit(pairs.X, pairs.y)
    assert probe.sign_fixed_ is True
    assert cosine(probe.direction_, pairs.truth) > 0.9
    assert probe.score(pairs.X_test, pairs.y_test) > 0.9


def test_scores_are_standardized_on_training_pairs(pairs):
    probe = CRCProbe().fit(pairs.X)
    logits = torch.from_numpy(probe.decision_function(pairs.X))
    torch.testing.assert_close(logits.mean(), torch.tensor(0.0, dtype=torch.float64), atol=1e-9,
                               rtol=0)
    torch.testing.assert_close(logits.std(correction=0), torch.tensor(1.0, dtype=torch.float64))


def test_random_direction_is_seeded_unit_and_uninformative(pairs):
    a = RandomDirectionProbe(seed=0).fit(pairs.X)
    again = RandomDirectionProbe(seed=0).fit(pairs.X)
    other = RandomDirectionProbe(seed=1).fit(pairs.X)
    torch.testing.assert_close(a.direction_, again.direction_)
    assert abs(cosine(a.direction_, other.direction_)) < 0.9
    torch.testing.assert_close(a.coef_.norm(), torch.tensor(1.0, dtype=torch.float64))
    assert abs(cosine(a.direction_, pairs.truth)) < 0.5


def test_baselines_rank_below_and_beside_ccs(pairs):
    def sign_free(probe):
        accuracy = probe.score(pairs.X_test, pairs.y_test)
        return max(accuracy, 1 - accuracy)

    ccs = sign_free(CCS(n_restarts=3, n_epochs=300).fit(pairs.X))
    crc = sign_free(CRCProbe().fit(pairs.X))
    rand = sign_free(RandomDirectionProbe(seed=0).fit(pairs.X))
    assert rand < 0.75 < min(ccs, crc)
