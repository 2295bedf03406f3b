"""Writers killed at random moments (SIGKILL) and two processes on one job: results stay bit-identical.

Each worker is a separate Python process extracting 40 texts in 20 chunks of 2 (one text per
forward pass, one torch thread) from a tiny random Llama saved as a local model folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from veracity.hooks import load_activations

WORKER = r"""
import hashlib, logging, sys
import torch
torch.set_num_threads(1)
import veracity as vc
logging.basicConfig(level=logging.WARNING, format="%(message)s")
logging.getLogger("veracity.hooks.extract").setLevel(logging.DEBUG)
model = vc.load_model(sys.argv[1], device="cpu")
words = "the city of paris rome tokyo lima cairo berlin is in france italy japan peru egypt germany".split()
texts = [" ".join(words[(i * 7 + k) % len(words)] for k in range(3 + i % 5)) for i in range(40)]
acts = vc.extract_cached(model, texts, layers=[1, 3], chunk_size=2, batch_size=1, out=sys.argv[2], progress=False)
print(hashlib.sha256(acts.numpy().tobytes()).hexdigest())
"""

N_CHUNKS = 20
KILLS = 3  # per chain; each kill costs a process start (~5 s of imports and model load)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tiny_models import build_tiny, build_word_tokenizer

    word_tokenizer = build_word_tokenizer()
    root = tmp_path_factory.mktemp("processes")
    model_dir = root / "tiny-llama"
    build_tiny("llama", len(word_tokenizer)).save_pretrained(model_dir)
    word_tokenizer.save_pretrained(model_dir)
    script = root / "worker.py"
    script.write_text(WORKER)
    clean = _worker(script, model_dir, root / "clean")
    assert clean.returncode == 0, clean.stderr[-2000:]
    return script, model_dir, root, clean.stdout.strip()


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def _worker(script, model_dir, out):
    return subprocess.run([sys.executable, str(script), str(model_dir), str(out)], capture_output=True, text=True,
                          timeout=300, env=_env())


def _start(script, model_dir, out):
    return subprocess.Popen([sys.executable, str(script), str(model_dir), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def _computed(stderr: str) -> set[int]:
    return {int(n) for n in re.findall(r"computing chunk (\d+) of", stderr)}


@pytest.mark.parametrize("chain", range(2))
def test_writers_killed_at_random_moments_resume_to_a_bit_identical_result(setup, chain):
    """Two chains of three SIGKILLs each (6 seeds): every kill lands after the run has written a new
    chunk, at a random moment within the next 0.4 s; a final run completes the job."""
    script, model_dir, root, clean = setup
    out = root / f"killed-{chain}"
    for kill in range(KILLS):
        rng = np.random.default_rng(chain * KILLS + kill)
        before = len(list(out.glob("chunk_*.safetensors")))
        proc = _start(script, model_dir, out)
        deadline = time.time() + 120
        while len(list(out.glob("chunk_*.safetensors"))) <= before and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    finished = _worker(script, model_dir, out)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.strip() == clean
    assert hashlib.sha256(load_activations(out).numpy().tobytes()).hexdigest() == clean
    assert not list(out.glob(".*.tmp")) and not list(out.glob("claim_*")), sorted(p.name for p in out.iterdir())


def test_two_processes_split_the_chunks_and_agree(setup):
    script, model_dir, root, clean = setup
    out = root / "shared-job"
    first, second = _start(script, model_dir, out), _start(script, model_dir, out)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs[0][1][-1000:] + outputs[1][1][-1000:]
    assert outputs[0][0].strip() == outputs[1][0].strip() == clean
    a, b = _computed(outputs[0][1]), _computed(outputs[1][1])
    assert a | b == set(range(N_CHUNKS)) and not a & b, (sorted(a), sorted(b))
