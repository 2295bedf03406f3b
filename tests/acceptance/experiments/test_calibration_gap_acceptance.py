"""Calibration gap, acceptance: the report drawn in a browser, and the real run on the embedded model."""

import json
import re

import numpy as np
import pytest
import torch
from planted_data import planted_confidences
from render import count_figures, dump_dom, find_chromium

from veracity.experiments.knowing import calibration_gap
from veracity.experiments.knowing.calibration_gap import main
from veracity.experiments.knowing.calibration_gap_report import (
    write_calibration_report,
)
from veracity.experiments.knowing.verbal_confidence import parse_confidence


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="chromium not installed: apt-get install -y chromium")
def test_report_draws_both_panel_figures_in_a_browser(tmp_path):
    scores, correct = planted_confidences()
    test = np.arange(len(correct))
    record = {"label": "x", "n": 1}
    results = {"model_id": "m", "config": {"qa_sets": "capitals", "target": "soft", "n_bins": 10}, "n_questions": 60,
               "n_train": 0, "n_test": 60, "accuracy_greedy": 0.5, "accuracy_test": 0.5, "verbal_question": "How sure?",
               "verbal_parse_rate_test": 0.8, "unparseable": "left out", "layer": 20, "site": "resid_post",
               "position": "last", "metric_note": "note",
               "tables": {"scores": [record], "scores_on_verbal_subset": [record]}}
    path = write_calibration_report(tmp_path / "report.html", results, scores, correct, test, ["100"] * 60)
    assert count_figures(dump_dom(path)) == (2, 2)


@pytest.mark.slow
def test_calibration_gap_acceptance_on_the_embedded_model(tmp_path, embedded, monkeypatch, one_thread, capsys):
    monkeypatch.setattr(calibration_gap.CalibrationGapConfig, "load_model", lambda self, backend="hf": embedded)
    out = tmp_path / "gap"
    results = main(["--out", str(out), "--n-per-level", "2", "--n-capitals", "12", "--k", "1", "--target", "greedy",
                    "--max-new-tokens", "10", "--confidence-tokens", "16", "--cache", str(tmp_path / "cache")])
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "calibration_gap" and saved["model"]["id"] == "smollm2-135m"
    for entry in saved["headline"].values():
        assert entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    assert saved["n_questions"] == 26 and saved["n_test"] == results["n_test"] == 8
    assert [r["score"] for r in saved["tables"]["scores"]] == ["verbal", "p_true", "p_ik"]
    assert 0 <= saved["verbal_parse_rate"] <= 1 and saved["verbal_question"].startswith("How confident")
    for r in saved["tables"]["scores"]:
        assert r["n"] + r["n_unscored"] == 8
        if r["score"] != "verbal" or r["n_unscored"] == 0:  # unparsed replies could leave one outcome
            low, high = r["auroc_ci95"]
            assert 0 <= low <= high <= 1 and 0 <= r["auroc"] <= 1
            assert all(0 <= r[key] <= 1 for key in ("ece", "mce", "brier", "mean_prob", "accuracy"))
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 26
    assert {"greedy", "correct", "verbal_reply", "verbal", "p_true", "p_ik", "split"} <= set(rows[0])
    assert sum(row["split"] == "test" for row in rows) == 8
    assert all((row["verbal"] is None) == (parse_confidence(row["verbal_reply"]) is None) for row in rows
               if not row["verbal_reply"][-1:].isdigit())  # the rows hold what the parser read
    page = (out / "report.html").read_text()
    assert all(f'"uid":"reliability-{name}"' in page for name in ("verbal", "p_true", "p_ik"))
    with pytest.raises(SystemExit) as done:
        main(["--out", str(out), "--qa-sets", "capitals", "--n-capitals", "12", "--k", "1", "--target", "greedy",
              "--layer", "99", "--cache", str(tmp_path / "cache")])
    assert done.value.code == 2 and re.search("calibration_gap: error: .*layer", capsys.readouterr().err)
