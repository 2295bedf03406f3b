"""Reading vectors (RepE): PCA / mean difference parity, sign, honesty stimuli, probes as vectors."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from veracity.hooks import extract
from veracity.steering import (
    SteeringVector,
    contrast_directions,
    from_probe,
    honesty_pairs,
    honesty_vector,
    reading_vector,
)
from veracity.steering.honesty import DISHONEST, HONEST
from veracity.steering.reading import flip_signs, scale_directions


def pairs_along(axis, n=40, d=16, noise=0.3, seed=0):
    """Positive = negative + axis + noise, for 2 layers."""
    gen = torch.Generator().manual_seed(seed)
    neg = torch.randn(n, 2, d, generator=gen)
    pos = neg + axis + noise * torch.randn(n, 2, d, generator=gen)
    return pos, neg


def test_mean_diff_is_the_normalised_mean_difference():
    axis = torch.zeros(16)
    axis[3] = 2.0
    pos, neg = pairs_along(axis)
    units, stats = contrast_directions(pos, neg, method="mean_diff")
    expected = (pos - neg).mean(0)
    torch.testing.assert_close(units, expected / expected.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(torch.tensor(stats["gap"]), torch.einsum("nld,ld->nl", (pos - neg), units).mean(0),
                               rtol=1e-5, atol=1e-5, check_dtype=False)


def test_pca_matches_scikit_learn_and_points_to_the_positive_member():
    axis = torch.zeros(16)
    axis[5] = -1.5
    pos, neg = pairs_along(axis)
    units, stats = contrast_directions(pos, neg, method="pca", seed=3)
    for layer in range(2):
        diffs = ((pos - neg)[:, layer].double() * flip_signs(len(pos), seed=3)[:, None]).numpy()
        reference = torch.from_numpy(PCA(n_components=1).fit(diffs).components_[0]).float()
        assert abs(float(units[layer] @ reference)) == pytest.approx(1.0, abs=1e-5)
        assert float(units[layer] @ axis) > 0, "sign: the positive member projects higher"
    assert min(stats["separation"]) > 0.95 and min(stats["gap"]) > 0


def test_flip_signs_flips_exactly_half():
    signs = flip_signs(11, seed=0)
    assert int((signs < 0).sum()) == 5 and torch.equal(signs, flip_signs(11, seed=0))


def test_contrast_errors():
    with pytest.raises(ValueError, match="unknown method"):
        contrast_directions(torch.ones(3, 1, 4), torch.zeros(3, 1, 4), method="lda")
    with pytest.raises(ValueError, match="identical"):
        contrast_directions(torch.ones(3, 1, 4), torch.ones(3, 1, 4), method="mean_diff")
    with pytest.raises(ValueError, match="at least 2"):
        contrast_directions(torch.ones(1, 1, 4), torch.zeros(1, 1, 4))


def test_scale_directions():
    units = torch.eye(2, 3)
    stats = {"resid_norm": [4.0, 5.0], "gap": [0.5, -2.0]}
    torch.testing.assert_close(scale_directions(units, "resid", stats).norm(dim=-1), torch.tensor([4.0, 5.0]))
    torch.testing.assert_close(scale_directions(units, "gap", stats).norm(dim=-1), torch.tensor([0.5, 2.0]))
    assert torch.equal(scale_directions(units, "unit", stats), units)


def test_honesty_pairs():
    pairs = honesty_pairs(["the city of paris is in france"], prefixes=True, min_words=2)
    assert len(pairs) == 6  # prefixes of 2..7 words
    assert pairs[0] == (f"{HONEST}\nthe city", f"{DISHONEST}\nthe city")
    assert honesty_pairs(["a b"])[0][0].endswith("\na b")
    with pytest.raises(ValueError, match="non-empty list"):
        honesty_pairs("the city")


def test_reading_vector_equals_directions_of_extracted_activations(tiny):
    model = tiny("llama")
    pairs = [("paris is in france", "paris is in japan"), ("tokyo is in japan", "tokyo is in peru"),
             ("rome is in italy", "rome is in egypt"), ("lima is in peru", "lima is in france")]
    vector = reading_vector(model, pairs, layers=[1, 3], method="mean_diff", normalization="resid")
    pos = extract(model, [p[0] for p in pairs], [1, 3], progress=False)
    neg = extract(model, [p[1] for p in pairs], [1, 3], progress=False)
    units, stats = contrast_directions(pos, neg, method="mean_diff")
    torch.testing.assert_close(vector[3], units[1] * stats["resid_norm"][1])
    assert vector.layers == [1, 3] and vector.method == "mean_diff" and vector.n_layers == 4
    assert set(vector.extra["separation"]) == {"1", "3"}
    with pytest.raises(ValueError, match="at least 2"):
        reading_vector(model, pairs[:1])


def test_honesty_vector_on_a_tiny_model(tiny, tmp_path):
    model = tiny("gpt2")
    vector = honesty_vector(model, ["paris is in france", "tokyo is in japan", "rome is in italy"], layers=[2])
    assert vector.extra["concept"] == "honesty" and vector.normalization == "unit"
    assert float(vector[2].norm()) == pytest.approx(1.0, abs=1e-5)
    vector.save(tmp_path / "honesty")
    assert SteeringVector.load(tmp_path / "honesty") == vector
    uncalibrated = honesty_vector(model, ["paris is in france", "tokyo is in japan", "rome is in italy"], layers=[2],
                                  calibrate=False)  # the same direction; only the suggested coefficient is skipped
    torch.testing.assert_close(uncalibrated[2], vector[2])
    assert uncalibrated.coefficient == 1.0 and vector.coefficient != 1.0


class FakeProbe:
    direction_ = torch.tensor([3.0, 4.0] + [0.0] * 62)
    provenance = {"model_id": "tiny-llama", "layer": 2}


def test_from_probe(tiny):
    model = tiny("llama")
    vector = from_probe(FakeProbe(), model=model)
    assert vector.layers == [2] and vector.method == "probe:FakeProbe" and vector.model_id == "tiny-llama"
    torch.testing.assert_close(vector[2][:2], torch.tensor([0.6, 0.8]))
    assert from_probe(FakeProbe(), layer=1).layers == [1]


def test_from_probe_errors(tiny):
    model = tiny("llama")
    with pytest.raises(ValueError, match="fit the probe first"):
        from_probe(object(), layer=1)
    narrow = FakeProbe()
    narrow.direction_ = torch.ones(8)
    with pytest.raises(ValueError, match="probe has d_model=8, model has 64"):
        from_probe(narrow, model=model)
    unplaced = FakeProbe()
    unplaced.provenance = {}
    with pytest.raises(ValueError, match="pass layer="):
        from_probe(unplaced)


def test_from_a_fitted_logistic_probe(tiny):
    logistic = pytest.importorskip("veracity.probes.logistic")
    gen = np.random.default_rng(0)
    x = gen.normal(size=(40, 64)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    probe = logistic.LogisticProbe(C=1.0).fit(x, y)
    vector = from_probe(probe, layer=1, model=tiny("llama"))
    assert float(vector[1][0]) > 0.5
    torch.testing.assert_close(vector[1], torch.as_tensor(probe.direction_, dtype=torch.float32))
