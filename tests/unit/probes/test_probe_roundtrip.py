"""Every probe and calibrator: save, load_probe, identical predictions; scikit-learn habits."""

import ast
import inspect
import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

import veracity.probes
from veracity.probes import (
    CCS,
    REGISTRY,
    CRCProbe,
    LogisticProbe,
    MassMeanProbe,
    PIKHead,
    PlattScaling,
    PolarityAwareCCS,
    RandomDirectionProbe,
    TemperatureScaling,
    load_probe,
)

# name -> (constructor, fixture holding the data, pass labels to fit)
CASES = {
    "LogisticProbe": (lambda: LogisticProbe(C=0.5), "acts", True),
    "MassMeanProbe": (lambda: MassMeanProbe(iid=True), "acts", True),
    "CCS": (lambda: CCS(n_restarts=2, n_epochs=50), "pairs", False),
    "CRCProbe": (lambda: CRCProbe(normalize="mean"), "pairs", True),
    "RandomDirectionProbe": (lambda: RandomDirectionProbe(seed=4), "pairs", False),
    "PolarityAwareCCS": (lambda: PolarityAwareCCS(n_restarts=2, n_epochs=50), "polarity", True),
    "PIKHead": (lambda: PIKHead(hidden=8, n_epochs=50), "pik", True),
    "PIKHead-linear": (lambda: PIKHead(), "pik", True),
}
PROBE_CLASSES = [LogisticProbe, MassMeanProbe, CCS, CRCProbe, RandomDirectionProbe,
                 PolarityAwareCCS, PIKHead]


def _fit(case, request):
    make, fixture, labelled = CASES[case]
    data = request.getfixturevalue(fixture)
    probe = make()
    assert (probe.fit(data.X, data.y) if labelled else probe.fit(data.X)) is probe
    return probe, data


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_load_round_trip(case, request, tmp_path):
    probe, data = _fit(case, request)
    probe.set_provenance(model_id="tiny", layer=3, site="resid_post", dataset="planted")
    probe.save(tmp_path / "probe")
    loaded = load_probe(tmp_path / "probe.safetensors")
    assert type(loaded) is type(probe) and loaded.get_params() == probe.get_params()
    np.testing.assert_array_equal(loaded.predict_true(data.X_test),
                                  probe.predict_true(data.X_test))
    torch.testing.assert_close(loaded.direction_, probe.direction_, atol=0, rtol=0)
    assert loaded.provenance == probe.provenance
    assert type(probe).load(tmp_path / "probe").score(data.X_test, (data.y_test > 0.5).long()) == \
        probe.score(data.X_test, (data.y_test > 0.5).long())


@pytest.mark.parametrize("case", ["CCS", "LogisticProbe"])
def test_json_records_what_a_reader_needs(case, request, tmp_path):
    probe, _ = _fit(case, request)
    probe.set_provenance(model_id="tiny", layer=3).save(tmp_path / "p")
    meta = json.loads((tmp_path / "p.json").read_text())
    assert meta["class"] == case and meta["d_model"] == 32
    assert meta["hyperparameters"] == probe.get_params()
    assert meta["provenance"] == {"model_id": "tiny", "layer": 3}
    assert meta["veracity_version"] == metadata.version("veracity") and meta["format_version"] == 1
    assert "direction_" in meta["sign_convention"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.safetensors"]


@pytest.mark.parametrize("calibrator", [TemperatureScaling(), PlattScaling()])
def test_calibrator_round_trip(calibrator, tmp_path):
    z = np.linspace(-3, 3, 50)
    y = (np.sin(7 * z) + z > 0).astype(int)
    calibrator.fit(z, y).set_provenance(split="calibration").save(tmp_path / "cal")
    loaded = load_probe(tmp_path / "cal")
    np.testing.assert_array_equal(loaded.predict_proba(z), calibrator.predict_proba(z))
    assert loaded.provenance == {"split": "calibration"}


def test_loading_the_wrong_class_or_an_unknown_one_fails(acts, tmp_path):
    LogisticProbe().fit(acts.X, acts.y).save(tmp_path / "p")
    with pytest.raises(ValueError, match="holds a LogisticProbe, not a CCS"):
        CCS.load(tmp_path / "p")
    meta = json.loads((tmp_path / "p.json").read_text())
    (tmp_path / "p.json").write_text(json.dumps({**meta, "class": "Mystery"}))
    with pytest.raises(ValueError, match="unknown class 'Mystery'"):
        load_probe(tmp_path / "p")


def test_registry_holds_every_probe_and_calibrator():
    assert set(REGISTRY) == {c.__name__ for c in PROBE_CLASSES} | {"TemperatureScaling",
                                                                   "PlattScaling"}


@pytest.mark.parametrize("cls", PROBE_CLASSES)
def test_init_only_stores_hyperparameters(cls):
    probe = cls()
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert set(vars(probe)) == params == set(probe.get_params())
    assert clone(probe).get_params() == probe.get_params()


def test_probes_never_import_models_or_other_packages():
    forbidden = {"hooks", "experiments", "steering", "transformers", "transformer_lens", "nnsight"}
    for path in Path(veracity.probes.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & forbidden, f"{path.name} imports {names}"


def test_register_refuses_a_second_class_with_the_same_name():
    clash = type("LogisticProbe", (), {"__module__": "somewhere.else"})
    with pytest.raises(ValueError, match="already registered"):
        veracity.probes.register(clash)
    assert REGISTRY["LogisticProbe"] is LogisticProbe
