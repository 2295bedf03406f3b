"""A study gives the same results twice from its stated command: two fresh processes (other hash seeds, cold
caches) on the embedded model, bit for bit (on one machine, at one thread count)."""

import json
import os
import subprocess
import sys

import pytest


def _run(tmp_path, name: str, hash_seed: str) -> tuple[dict, str]:
    out = tmp_path / name
    command = [sys.executable, "-m", "veracity", "run", "pik", "--qa-sets", "capitals", "--n-capitals", "16", "--k",
               "1", "--max-new-tokens", "8", "--p-true", "plain", "--out", str(out), "--cache", str(tmp_path / f"{name}_cache")]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, capture_output=True, env=env)
    results = json.loads((out / "results.json").read_text())
    for option in ("out", "cache"):
        results["config"].pop(option)
    return results, (out / "answers.jsonl").read_text()


@pytest.mark.slow
def test_pik_is_bit_reproducible_across_processes(tmp_path):
    first, second = _run(tmp_path, "a", "1"), _run(tmp_path, "b", "2")
    assert first[1] == second[1]  # the same answers, in the same split
    assert first[0] == second[0]  # every figure, interval and table
