"""One Results type for every study: it reads like the JSON it writes, round-trips, and warns on tiny held-out sets."""

import json
import logging

import pytest

from veracity.experiments import STUDIES, load_results
from veracity.experiments.results import MIN_HELD_OUT, Results, study_results


class _Model:
    model_id, n_layers, d_model = "tiny", 4, 64


def test_results_read_like_their_json_and_round_trip(tmp_path):
    results = study_results("demo", _Model(), {"seed": 0}, {"auroc_x": {"value": 0.8, "ci": [0.7, 0.9]}},
                            tables={"by_layer": [{"layer": 1, "auroc": 0.8}]}, layer=1, n_test=40)
    assert results["headline"] is results.headline and results["layer"] == 1 and "warnings" not in results
    assert results["model"] == {"id": "tiny", "n_layers": 4, "d_model": 64} and results["report"] == "report.html"
    path = results.write(tmp_path)
    saved = load_results(tmp_path)
    assert path.name == "results.json" and saved == json.loads(json.dumps(results.to_json()))
    assert set(saved) == {"study", "model", "config", "headline", "tables", "report", "layer", "n_test"}
    assert Results.from_json(saved) == results


def test_a_tiny_held_out_set_is_flagged_in_the_results_and_on_stderr(caplog):
    with caplog.at_level(logging.WARNING):
        results = study_results("pik", _Model(), {}, {}, n_test=MIN_HELD_OUT - 1)
    assert results["warnings"] and f"only {MIN_HELD_OUT - 1} held-out rows" in results["warnings"][0]
    assert any("held-out rows" in r.getMessage() for r in caplog.records)


def test_details_may_not_shadow_the_fields_and_foreign_json_is_refused():
    with pytest.raises(ValueError, match="may not be named"):
        Results("x", {}, {}, {}, details={"headline": 1})
    with pytest.raises(ValueError, match="lacks model, config, headline"):
        Results.from_json({"study": "x"})


def test_every_study_has_run_and_main_returning_results():
    import importlib
    import inspect

    for name, module_name in STUDIES.items():
        module = importlib.import_module(module_name)
        assert inspect.signature(module.run).return_annotation in ("Results", Results), name
        assert "study_main" in inspect.getsource(module.main), name
