"""honesty_pressure, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_honesty_pressure.py)."""

import json

import pytest

from veracity.experiments.deception import honesty_pressure as study


@pytest.mark.slow
def test_small_run_on_the_embedded_model_writes_confessions(tmp_path, embedded):
    out = tmp_path / "pressure"
    results = study.main(["--n", "12", "--pressures", "instruction,few_shot", "--shots", "2", "--n-unseen", "6",
                          "--n-control", "20", "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "honesty_pressure" and "accuracy" in saved["headline"]
    assert {m["monitor"] for m in saved["monitors"]} == set(study.MONITORS)
    assert {m["rows"] for m in saved["monitors"]} == {"held_out", "unseen_topic"}
    assert {"accuracy_unseen_topic", "lie_rate_few_shot", "evasion_rate_few_shot"} <= set(saved["headline"])
    for m in study.MONITORS:  # calibrated on 10 controls, its false-positive rate measured on the other 10
        assert 0 <= saved["headline"][f"fpr_controls_held_out_{m}"]["value"] <= 1
        assert lines_flag_at(saved, out, m)
    for row in saved["monitors"]:
        assert row["lied_flagged"] + row["lied_not_flagged"] + row["honest_flagged"] + row["honest_not_flagged"] > 0
    lines = [json.loads(x) for x in (out / "confessions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * (12 + 6) and {"statement", "belief", "outcome", "self_report_flags_lie"} <= set(lines[0])
    main = [x for x in lines if x["split"] != "unseen_topic"]
    assert results["known"] == sum(1 for x in main if x["known"]) // 2
    assert all(x["lied"] == (x["known"] and x["outcome"] == "wrong") for x in lines)
    assert sum(x["split"] == "unseen_topic" for x in lines) == 2 * 6
    assert "Honesty under pressure" in (out / "report.html").read_text()


def lines_flag_at(saved: dict, out, monitor: str) -> bool:
    """Every confession record flags exactly where its score exceeds the monitor's calibrated threshold."""
    threshold = saved["thresholds"]["model"][monitor]
    lines = [json.loads(x) for x in (out / "confessions.jsonl").read_text().splitlines()]
    return all(x[f"{monitor}_flags_lie"] == (x[f"{monitor}_score"] > threshold) for x in lines)
