"""honesty_pressure, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_honesty_pressure.py)."""

import json

import pytest

from veracity.experiments.deception import honesty_pressure as study


@pytest.mark.slow
def test_small_run_on_the_embedded_model_writes_confessions(tmp_path, embedded):
    out = tmp_path / "pressure"
    results = study.main(["--n", "16", "--pressures", "instruction,few_shot", "--n-unseen", "6", "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "honesty_pressure" and "accuracy" in saved["headline"]
    assert {m["monitor"] for m in saved["monitors"]} == set(study.MONITORS)
    assert {m["rows"] for m in saved["monitors"]} == {"held_out", "unseen_topic"}
    assert {"accuracy_unseen_topic", "lie_rate_few_shot", "evasion_rate_few_shot"} <= set(saved["headline"])
    for row in saved["monitors"]:
        assert row["lied_flagged"] + row["lied_not_flagged"] + row["honest_flagged"] + row["honest_not_flagged"] > 0
    lines = [json.loads(x) for x in (out / "confessions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * (16 + 6) and {"statement", "belief", "outcome", "verbal_flags_lie"} <= set(lines[0])
    main = [x for x in lines if x["split"] != "unseen_topic"]
    assert results["known"] == sum(1 for x in main if x["known"]) // 2
    assert all(x["lied"] == (x["known"] and x["outcome"] == "wrong") for x in lines)
    assert sum(x["split"] == "unseen_topic" for x in lines) == 2 * 6
    assert "Honesty under pressure" in (out / "report.html").read_text()
