"""poisoned_training, acceptance: on the embedded model at a small size
(the unit tests: tests/unit/experiments/test_poisoned_training.py)."""

import json

import pytest

from veracity.experiments.deception import poisoned_training as study


@pytest.mark.slow
def test_small_run_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "poison"
    study.main(["--n", "40", "--exposures", "1,2", "--ordinary", "8", "--layers", "6,15", "--lr", "3e-3",
                "--out", str(out)], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "poisoned_training" and saved["layer"] in (6, 15)
    for e in (0, 1, 2):
        assert {f"answer_flip_poisoned_e{e}", f"belief_flip_fixed_control_e{e}"} <= set(saved["headline"])
    assert saved["headline"]["answer_flip_poisoned_e0"]["value"] == 0.0  # known facts: right before training
    # before training the refitted probe is the fixed one
    assert saved["headline"]["belief_flip_refit_poisoned_e0"] == saved["headline"]["belief_flip_fixed_poisoned_e0"]
    for e in (1, 2):
        assert (out / "adapter" / f"epoch_{e}" / "adapter_model.safetensors").is_file()
    rows = [json.loads(line) for line in (out / "readings.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * (saved["n_poisoned"] + saved["n_control"])
    assert {r["question"] for r in rows if r["group"] == "poisoned"} == set(saved["poisoned_questions"])
    assert "Poisoned continued training" in (out / "report.html").read_text()


@pytest.mark.slow
def test_full_fine_tune_checkpoints_are_model_folders(tmp_path, embedded):
    out = tmp_path / "full"
    saved = study.main(["--n", "30", "--exposures", "1", "--ordinary", "4", "--layers", "15", "--method", "full",
                        "--out", str(out)], model=embedded)
    assert saved["training"]["method"] == "full" and saved["training"]["lr"] == 3e-5
    assert (out / "model" / "epoch_1" / "model.safetensors").is_file() and (out / "model" / "config.json").is_file()
    assert {"answer_flip_poisoned_e1", "belief_flip_refit_poisoned_e1"} <= set(saved["headline"])
