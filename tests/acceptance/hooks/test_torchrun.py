"""``veracity extract`` under torchrun: ranks split the chunks, and the result equals one process's."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import WORDS, build_tiny, build_word_tokenizer

import veracity as vc

pytestmark = pytest.mark.slow


def test_two_ranks_write_one_output_identical_to_a_single_process(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun ships with torch; it should be beside the interpreter"
    tokenizer = build_word_tokenizer()
    model_dir = tmp_path / "tiny"
    build_tiny("llama", len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS[:40]) for _ in range(rng.randint(2, 9))) for _ in range(37)]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    args = ["extract", "--model", str(model_dir), "--input", str(tmp_path / "texts.txt"), "--chunk-size", "8",
            "--layers", "all", "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "veracity.cli", *args,
                          "--out", str(tmp_path / "ranks")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "rank 0 of 2: computed 21 of 37 texts" in run.stderr  # chunks 0, 2, 4 (8 + 8 + 5 texts)
    assert "rank 1 of 2: computed 16 of 37 texts" in run.stderr  # chunks 1, 3
    assert run.stdout.strip().splitlines() == [str(tmp_path / "ranks")]  # rank 0 alone reports
    single = subprocess.run([sys.executable, "-m", "veracity.cli", *args, "--out", str(tmp_path / "single")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    together, alone = vc.load_activations(tmp_path / "ranks"), vc.load_activations(tmp_path / "single")
    assert together.shape == (37, 4, 64)
    assert torch.equal(together, alone)
