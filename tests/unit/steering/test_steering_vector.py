"""SteeringVector: validation, arithmetic, two-file save/load, validate_for."""

import json

import numpy as np
import pytest
import torch

from veracity.steering import SteeringVector


def vec(layers=(1, 2), d=8, seed=0, **kw):
    gen = torch.Generator().manual_seed(seed)
    return SteeringVector({layer: torch.randn(d, generator=gen) for layer in layers}, **kw)


def test_directions_are_float32_cpu_copies():
    src = torch.ones(4, dtype=torch.float64)
    v = SteeringVector({3: src, 1: np.arange(4.0)})
    src += 1
    assert v.layers == [1, 3] and v.d_model == 4
    assert v[3].dtype == torch.float32 and torch.equal(v[3], torch.ones(4))


@pytest.mark.parametrize(
    "directions, match",
    [
        ({}, "at least one"),
        ({-1: torch.ones(3)}, "non-negative ints"),
        ({"2": torch.ones(3)}, "non-negative ints"),
        ({1: torch.ones(2, 3)}, "must be 1-D"),
        ({1: torch.ones(3), 2: torch.ones(4)}, "differ in width"),
        ({1: torch.tensor([1.0, float("nan")])}, "NaN"),
    ],
)
def test_bad_directions_fail_early(directions, match):
    with pytest.raises(ValueError, match=match):
        SteeringVector(directions)


def test_bad_metadata_fails_early():
    with pytest.raises(ValueError, match="unknown normalization"):
        vec(normalization="l2")
    with pytest.raises(ValueError, match="beyond n_layers"):
        vec(layers=(5,), n_layers=4)


def test_addition_is_a_union_of_layers():
    a, b = vec((1, 2), seed=0), vec((2, 3), seed=1)
    s = a + b
    assert s.layers == [1, 2, 3]
    torch.testing.assert_close(s[1], a[1])
    torch.testing.assert_close(s[2], a[2] + b[2])
    torch.testing.assert_close(s[3], b[3])
    d = a - b
    torch.testing.assert_close(d[3], -b[3])
    torch.testing.assert_close(d[2], a[2] - b[2])


def test_scalar_arithmetic_and_negation():
    a = vec()
    torch.testing.assert_close((2.5 * a)[1], 2.5 * a[1])
    torch.testing.assert_close((a * 2.5)[2], 2.5 * a[2])
    torch.testing.assert_close((a / 4)[1], a[1] / 4)
    torch.testing.assert_close((-a)[2], -a[2])
    assert -(a * -1) == a
    assert (2 * a).normalization == "none"


def test_arithmetic_does_not_mutate_and_checks_width():
    a, b = vec(), vec(seed=1)
    before = a[1].clone()
    _ = a + b
    _ = a * 3
    assert torch.equal(a[1], before)
    with pytest.raises(ValueError, match="width"):
        _ = a + vec(d=5)
    with pytest.raises(TypeError):
        _ = a * "x"


def test_select():
    a = vec((1, 2, 3))
    assert a.select([3, 1]).layers == [1, 3]
    assert a.select(2).layers == [2]
    with pytest.raises(ValueError, match="no layer 7"):
        a.select(7)


def test_save_load_round_trip_is_exact(tmp_path):
    a = vec((0, 3), model_id="tiny-llama", n_layers=4, method="pca", normalization="unit", coefficient=2.0,
            extra={"separation": {"0": 0.5, "3": 1.0}})
    tensor_path, json_path = a.save(tmp_path / "honesty")
    assert tensor_path.name == "honesty.safetensors" and json_path.name == "honesty.json"
    meta = json.loads(json_path.read_text())
    for key in ("model_id", "d_model", "n_layers", "layers", "site", "layer_convention", "method",
                "normalization", "coefficient", "veracity_version", "format_version"):
        assert key in meta
    assert meta["site"] == "resid_post" and meta["class"] == "SteeringVector"
    b = SteeringVector.load(tmp_path / "honesty.json")
    assert b == a
    assert SteeringVector.load(tmp_path / "honesty.safetensors") == a
    assert sorted(p.name for p in tmp_path.iterdir()) == ["honesty.json", "honesty.safetensors"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        SteeringVector.load(tmp_path / "missing.json")
    from veracity.probes.io import save_artifact

    save_artifact(tmp_path / "other", {"w": torch.ones(2)}, {"class": "LogisticProbe"})
    with pytest.raises(ValueError, match="not a SteeringVector"):
        SteeringVector.load(tmp_path / "other")


def test_validate_for_names_the_fix(tiny):
    model = tiny("llama")
    with pytest.raises(ValueError) as err:
        vec(d=576).validate_for(model)
    assert str(err.value) == "vector has d_model=576, model has 64: build the vector on this model"
    with pytest.raises(ValueError, match=r"layer 7.*only 4 blocks"):
        vec((7,), d=64).validate_for(model)
    vec((0, 3), d=64).validate_for(model)
