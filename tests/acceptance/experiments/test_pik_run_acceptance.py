"""P(IK) experiment, acceptance: on the embedded model at a small size, and the same results again from
its stated command in a fresh process (the unit tests: tests/unit/experiments/test_pik_run.py)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from veracity.experiments.knowing.pik import main


@pytest.mark.slow
def test_pik_acceptance_on_the_embedded_model(tmp_path, embedded):
    out = tmp_path / "pik"
    argv = ["--qa-sets", "capitals", "--n-capitals", "12", "--k", "1", "--max-new-tokens", "10", "--target", "greedy"]
    results = main([*argv, "--out", str(out), "--cache", str(tmp_path / "cache")], model=embedded)
    saved = json.loads((out / "results.json").read_text())
    assert saved["n_questions"] == 12 and saved["layer"] == 20 and saved["study"] == "pik"
    assert {"auroc_p_ik", "auroc_p_true", "auroc_p_true_few_shot", "auroc_p_true_samples", "accuracy_held_out",
            "mean_p_ik_passage_relevant", "mean_p_ik_passage_none", "mean_p_ik_mixed_head_passage_relevant",
            "mean_p_ik_paired_head_passage_relevant"} <= set(saved["headline"])
    assert 0 < saved["accuracy_greedy"] < 1
    for name in ("p_ik", "p_true", "p_true_few_shot", "p_true_samples", "p_true_own_turn", "category_prior"):
        metrics = saved["metrics"][name]
        assert 0 <= metrics["auroc"] <= 1 and 0 <= metrics["ece"] <= 1 and 0 <= metrics["brier"] <= 1
        low, high = metrics["auroc_ci95"]
        assert 0 <= low <= high <= 1
    assert set(saved["auroc_within_category"]) <= {"capital"}
    assert len(saved["tables"]["per_layer_auroc"]) == 30 and results["n_test"] == saved["n_test"]
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {"greedy", "correct", "samples", "p_ik", "p_true", "split"} <= set(rows[0])
    confounds = saved["p_true_confounds"]
    assert {"p_true", "p_true_few_shot", "p_true_samples"} <= set(confounds)
    assert sum(f["n"] for f in confounds["formats"].values()) == saved["n_test"]
    passages = saved["source_passages"]
    assert set(passages) == {"none", "relevant", "irrelevant"}
    assert {p["n"] for p in passages.values()} == {saved["n_test"]}
    # a passage that states the capital lets the model answer: accuracy never drops below no passage
    assert passages["relevant"]["accuracy"]["value"] >= passages["none"]["accuracy"]["value"]
    # every condition's P(IK) target is read from the answers in that condition (here --target greedy: its accuracy)
    assert all(p["mean_target"] == p["accuracy"] for p in passages.values())
    assert saved["headline"]["mean_p_ik_target_passage_relevant"] == passages["relevant"]["mean_target"]
    selection = saved["mixed_head_weight_decay"]  # chosen on the training capitals' folds, by the rule it states
    for chosen in (selection, selection["paired"]):
        assert chosen["chosen"] == max(chosen["cross_validation"], key=lambda row: row["mean_auroc"])["weight_decay"]
    assert (out / "pik_head.safetensors").is_file() and (out / "pik_head.json").is_file()
    assert "Reliability" in (out / "report.html").read_text()

    # bit-reproducible for a seed: a fresh process (another hash seed, a cold cache, the model loaded afresh) at
    # this process's thread count gives the same answers in the same split and every figure, interval and table it
    # computes. It leaves out the passages (the last stage, after every other figure is fixed; half the run's time)
    # and the P(True) variants other than plain (forward passes over fixed prompts: a third of the rest), so their
    # figures are the only ones it does not check again.
    again = tmp_path / "again"
    env = {**os.environ, "PYTHONHASHSEED": "7", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    subprocess.run([sys.executable, "-m", "veracity", "run", "pik", *argv, "--no-passages", "--p-true", "plain",
                    "--out", str(again), "--cache", str(tmp_path / "cold_cache")], check=True, capture_output=True,
                   env=env)
    rows_again = [json.loads(line) for line in (again / "answers.jsonl").read_text().splitlines()]
    assert {"greedy", "samples", "p_ik", "p_true"} <= set(rows_again[0]) and "p_true_few_shot" not in rows_again[0]
    assert all(within(mine, theirs) for mine, theirs in zip(rows_again, rows, strict=True))
    assert (again / "pik_head.safetensors").read_bytes() == (out / "pik_head.safetensors").read_bytes()
    repeated = json.loads((again / "results.json").read_text())
    assert repeated["source_passages"] == {} and repeated["config"]["passages"] is False
    assert set(repeated["metrics"]) == {"p_ik", "p_true", "category_prior"}
    for results_json in (saved, repeated):
        for option in ("out", "cache", "passages", "p_true"):
            results_json["config"].pop(option)
        for key in ("source_passages", "mixed_head_weight_decay"):
            results_json.pop(key)
        for name in [name for name in results_json["headline"] if "passage" in name]:
            results_json["headline"].pop(name)
    assert within(repeated, saved)


def within(small, big) -> bool:
    """Every entry of ``small`` is in ``big`` with the same value (dictionaries compared key by key, all the way down;
    ``big`` may hold more keys: the figures of the P(True) variants the repeated run left out)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and small.keys() <= big.keys() and all(within(v, big[k]) for k, v in small.items())
    return small == big
