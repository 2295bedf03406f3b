"""verbal_calibration, acceptance: a few LoRA steps on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_verbal_calibration.py)."""

import json

import pytest

from veracity.experiments.knowing import verbal_calibration as study


@pytest.mark.slow
def test_small_run_on_the_embedded_model_reads_every_confidence(tmp_path, embedded):
    out = tmp_path / "verbal"
    study.main(["--n-per-task", "8", "--train-tasks", "add_1d,add_2d", "--shift-tasks", "multiply_3d", "--targets",
                "empirical", "--epochs", "1", "--layer", "15", "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "verbal_calibration" and saved["n_questions"] == 24 and saved["n_shift"] == 8
    rows = {(r["read_out"], r["side"]): r for r in saved["tables"]["calibration"]}
    for name in ("untrained_verbal", "pik_head", "p_true_own_turn", "constant", "trained_verbal_empirical"):
        for side in ("in_distribution", "shift"):
            row = rows[(name, side)]
            assert row["n"] + row["n_unparsed"] == (8 if side == "shift" else saved["n_test"])
    assert ("sub_task_rate", "shift") not in rows and rows[("sub_task_rate", "in_distribution")]["n"] == saved["n_test"]
    for name in ("ece_pik_head_in_distribution", "ece_constant_shift", "ece_p_true_own_turn_shift"):
        low, high = saved["headline"][name]["ci"]
        assert 0 <= low <= saved["headline"][name]["value"] <= high <= 1
    assert saved["training"]["empirical"]["steps"] >= 1 and (out / "adapter_empirical" / "adapter_config.json").is_file()
    assert {r["layer"] for r in saved["tables"]["agreement"]} >= {0, 15}
    lines = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert len(lines) == 24 and {"sub_task", "split", "reply_empirical", "pik_head"} <= set(lines[0])
    assert "Reliability diagram" in (out / "report.html").read_text()
