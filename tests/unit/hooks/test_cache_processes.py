"""Writers killed at random moments (SIGKILL) and two processes on one job: results stay bit-identical.

Each writer is a separate process extracting 40 texts in 20 chunks of 2 (one text per forward pass, one torch thread)
from a tiny random Llama saved as a local model folder. The writers are forked from one fork server that has imported
torch, transformers and veracity once (a fresh interpreter costs about 5 s of imports per writer); each has its own
memory and files, and SIGKILL ends it as it would any process.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from veracity.hooks import load_activations

N_CHUNKS = 20
KILLS = 3  # per chain


def write_activations(model_dir: str, out: str, log: str) -> None:
    """One writer: extract the 40 texts into ``out``, logging each chunk it computes to ``log``; the result's hash
    goes beside the log (``.sha256`` for ``.log``)."""
    import torch

    import veracity as vc

    torch.set_num_threads(1)
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("veracity.hooks.extract").addHandler(handler)
    logging.getLogger("veracity.hooks.extract").setLevel(logging.DEBUG)
    model = vc.load_model(model_dir, device="cpu")
    words = "the city of paris rome tokyo lima cairo berlin is in france italy japan peru egypt germany".split()
    texts = [" ".join(words[(i * 7 + k) % len(words)] for k in range(3 + i % 5)) for i in range(40)]
    acts = vc.extract_cached(model, texts, layers=[1, 3], chunk_size=2, batch_size=1, out=out, progress=False)
    Path(log).with_suffix(".sha256").write_text(hashlib.sha256(acts.numpy().tobytes()).hexdigest())


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tiny_models import build_tiny, build_word_tokenizer

    word_tokenizer = build_word_tokenizer()
    root = tmp_path_factory.mktemp("processes")
    model_dir = root / "tiny-llama"
    build_tiny("llama", len(word_tokenizer)).save_pretrained(model_dir)
    word_tokenizer.save_pretrained(model_dir)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "transformers.models.llama.modeling_llama", "veracity", __name__])
    clean = _worker(context, model_dir, root / "clean")
    assert clean.exitcode == 0, _log(root / "clean").read_text()[-2000:]
    return context, model_dir, root, (root / "clean.sha256").read_text()


def _log(out: Path) -> Path:
    return out.with_name(out.name + ".log")


def _start(context, model_dir, out, log=None):
    proc = context.Process(target=write_activations, args=(str(model_dir), str(out), str(log or _log(out))))
    proc.start()
    return proc


def _worker(context, model_dir, out):
    proc = _start(context, model_dir, out)
    proc.join(timeout=300)
    return proc


def _computed(stderr: str) -> set[int]:
    return {int(n) for n in re.findall(r"computing chunk (\d+) of", stderr)}


@pytest.mark.parametrize("chain", range(2))
def test_writers_killed_at_random_moments_resume_to_a_bit_identical_result(setup, chain):
    """Two chains of three SIGKILLs each (6 seeds): every kill lands after the writer has written a new chunk, at a
    random moment within the next 20 ms (a chunk takes about 8 ms here: a kill 0-0.4 s later, as before 2026-12-07,
    mostly found the job finished); a final run completes the job."""
    context, model_dir, root, clean = setup
    out = root / f"killed-{chain}"
    ended = []
    for kill in range(KILLS):
        rng = np.random.default_rng(chain * KILLS + kill)
        before = len(list(out.glob("chunk_*.safetensors")))
        proc = _start(context, model_dir, out, root / f"killed-{chain}-{kill}.log")
        deadline = time.time() + 120
        while len(list(out.glob("chunk_*.safetensors"))) <= before and proc.is_alive() and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(float(rng.uniform(0.0, 0.02)))
        proc.kill()  # SIGKILL
        proc.join()
        ended.append(proc.exitcode)
    finished = _worker(context, model_dir, out)
    assert finished.exitcode == 0, _log(out).read_text()[-2000:]
    assert -signal.SIGKILL in ended, ended  # at least one writer died mid-job
    assert len(_computed(_log(out).read_text())) < N_CHUNKS  # the finishing writer resumed the killed ones' chunks
    assert (root / f"killed-{chain}.sha256").read_text() == clean  # the finishing writer's hash
    assert hashlib.sha256(load_activations(out).numpy().tobytes()).hexdigest() == clean
    assert not list(out.glob(".*.tmp")) and not list(out.glob("claim_*")), sorted(p.name for p in out.iterdir())


def test_two_processes_split_the_chunks_and_agree(setup):
    context, model_dir, root, clean = setup
    out = root / "shared-job"
    logs = [root / "first.log", root / "second.log"]
    first, second = (_start(context, model_dir, out, log) for log in logs)
    for proc in (first, second):
        proc.join(timeout=300)
    assert first.exitcode == 0 and second.exitcode == 0, logs[0].read_text()[-1000:] + logs[1].read_text()[-1000:]
    assert [log.with_suffix(".sha256").read_text() for log in logs] == [clean, clean]
    a, b = _computed(logs[0].read_text()), _computed(logs[1].read_text())
    assert a | b == set(range(N_CHUNKS)) and not a & b, (sorted(a), sorted(b))
