"""The cache proves what it serves: corrupt chunks are detected, logged, recomputed; steering is in the key."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from veracity.hooks import extract, extract_cached, load_activations
from veracity.steering import SteeringVector, steer

TEXTS = [f"the city of {c} is in {p} ." for c, p in [("paris", "france"), ("rome", "italy"), ("tokyo", "japan"),
                                                      ("lima", "peru"), ("cairo", "egypt"), ("berlin", "germany")]]
TEXTS += ["hello world", "one two three", "what is larger than ten ?", "it is true"]


def _run(model, folder, **kw):
    return extract_cached(model, TEXTS, layers=[1, 3], chunk_size=4, batch_size=3, out=folder, progress=False, **kw)


def _flip_data_byte(path):
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the tensor data, after the header
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-40])


def _wrong_rows(path):
    save_file({"activations": torch.zeros(3, 2, 64)}, str(path), metadata={"sha256": "x", "shape": "[3, 2, 64]",
                                                                            "dtype": "torch.float32"})


def _wrong_width(path):
    save_file({"activations": torch.zeros(4, 2, 32)}, str(path))


def _float16_zeros(path):
    save_file({"activations": torch.zeros(4, 2, 64, dtype=torch.float16)}, str(path))


def _missing_key(path):
    save_file({"something_else": torch.zeros(4, 2, 64)}, str(path))


def _not_safetensors(path):
    path.write_bytes(b"\x80\x04garbage that is not a safetensors file at all")


@pytest.mark.parametrize("corrupt", [_flip_data_byte, _truncate, _wrong_rows, _wrong_width, _float16_zeros,
                                     _missing_key, _not_safetensors])
def test_a_corrupt_chunk_is_logged_recomputed_and_never_served(tiny, tmp_path, caplog, corrupt):
    model = tiny("llama")
    clean = _run(model, tmp_path / "clean")  # a clean run (same chunks and batches)
    torch.testing.assert_close(clean, extract(model, TEXTS, layers=[1, 3], progress=False))
    folder = tmp_path / "acts"
    assert torch.equal(_run(model, folder), clean)
    chunk = folder / "chunk_000001.safetensors"
    corrupt(chunk)
    with pytest.raises(RuntimeError, match="run the extraction again"):
        load_activations(folder)  # never read as data
    with caplog.at_level(logging.WARNING, logger="veracity.hooks.cache"):
        again = _run(model, folder)
    assert torch.equal(again, clean)
    assert any(str(chunk) in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
    assert torch.equal(load_activations(folder), clean)


def test_temporaries_of_killed_writers_are_removed(tiny, tmp_path):
    model = tiny("llama")
    folder = tmp_path / "acts"
    _run(model, folder)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stray = folder / f".chunk_000002.safetensors.{int(gone.stdout)}.abcd.tmp"
    live = folder / f".chunk_000002.safetensors.{__import__('os').getpid()}.efgh.tmp"
    stray.write_bytes(b"half")
    live.write_bytes(b"in progress")
    _run(model, folder)
    assert not stray.exists() and live.exists()


def test_steered_activations_are_cached_under_their_own_key(tiny, tmp_path):
    model = tiny("llama")
    vector = SteeringVector({1: torch.randn(64)}, model_id=model.model_id)
    plain = extract(model, TEXTS, layers=[1], progress=False)
    with steer(model, vector, coefficient=2.0):
        steered = extract_cached(model, TEXTS, layers=[1], cache_dir=tmp_path, progress=False)
    torch.testing.assert_close(steered[:, 0] - plain[:, 0], (2.0 * vector[1]).expand(len(TEXTS), -1))
    assert torch.equal(extract_cached(model, TEXTS, layers=[1], cache_dir=tmp_path, progress=False), plain)
    assert model.engine.steering == []


@pytest.mark.parametrize("edit", ["in_place", "through_data", "sum_preserving"])
def test_any_weight_edit_changes_the_cache_key(tiny, tmp_path, edit):
    model = tiny("llama")
    first = extract_cached(model, TEXTS, layers=[3], cache_dir=tmp_path, progress=False)
    weight = model.blocks[2].mlp.down_proj.weight
    with torch.no_grad():
        if edit == "in_place":
            weight[0, 0] += 0.5
        elif edit == "through_data":
            weight.data[0, 0] += 0.5
        else:  # +0.5 and -0.5 in one tensor: its sum (what a sampling fingerprint read) stays the same
            weight[0, 0] += 0.5
            weight[1, 1] -= 0.5
    edited = extract_cached(model, TEXTS, layers=[3], cache_dir=tmp_path, progress=False)
    assert not torch.equal(edited, first)
    torch.testing.assert_close(edited, extract(model, TEXTS, layers=[3], progress=False))
