"""The cache proves what it serves: corrupt chunks are detected, logged, recomputed; steering is in the key."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from veracity.hooks import extract, extract_cached, load_activations, read_job
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
    bad = chunk.read_bytes()
    with pytest.raises(ValueError, match="cannot be read as this job's chunk 1 .*run the extraction into this folder again"):
        load_activations(folder)  # never read as data
    assert chunk.read_bytes() == bad  # and the user's file is left as it was
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


OTHER_TEXTS = [f"text number {i} of another run" for i in range(len(TEXTS))]


def _from_another_run(model, folder, tmp_path):
    """Chunk 1 replaced by a valid chunk 1 of another run (other texts, same layers and sizes)."""
    other = tmp_path / "other"
    extract_cached(model, OTHER_TEXTS, layers=[1, 3], chunk_size=4, batch_size=3, out=other, progress=False)
    (folder / "chunk_000001.safetensors").write_bytes((other / "chunk_000001.safetensors").read_bytes())


def _from_another_slot(model, folder, tmp_path):
    """Chunk 1 replaced by this run's own chunk 0 (a valid chunk of this job, in the wrong place)."""
    (folder / "chunk_000001.safetensors").write_bytes((folder / "chunk_000000.safetensors").read_bytes())


@pytest.mark.parametrize("misplace", [_from_another_run, _from_another_slot])
def test_a_misplaced_chunk_is_never_served_on_any_read_path(tiny, tmp_path, misplace):
    model = tiny("llama")
    folder = tmp_path / "run"
    clean = _run(model, folder)
    misplace(model, folder, tmp_path)
    bad = (folder / "chunk_000001.safetensors").read_bytes()
    with pytest.raises(ValueError, match=r"chunk_000001.safetensors cannot be read as this job's chunk 1 \(written for"):
        load_activations(folder)
    view = load_activations(folder, mmap=True)
    with pytest.raises(ValueError, match="cannot be read as this job's chunk 1"):
        view[5]
    torch.testing.assert_close(view[0:4], clean[0:4])  # the chunks that belong are still served
    assert (folder / "chunk_000001.safetensors").read_bytes() == bad  # reading never changes the user's files
    torch.testing.assert_close(_run(model, folder), clean, rtol=0, atol=0)  # extraction recomputes it
    assert torch.equal(load_activations(folder), clean)


@pytest.mark.parametrize(("field", "value", "named"), [("n_texts", 9, "n_texts (9, written 10)"),
                                                         ("layers", [1, 7], "layers ([1, 7], written [1, 3])")])
def test_an_edited_job_json_is_refused_naming_the_field(tiny, tmp_path, field, value, named):
    folder = tmp_path / "run"
    _run(tiny("llama"), folder)
    job = json.loads((folder / "job.json").read_text())
    job[field] = value
    (folder / "job.json").write_text(json.dumps(job))
    for read in (load_activations, lambda f: load_activations(f, mmap=True), read_job):
        with pytest.raises(ValueError, match=re.escape(f"was edited: {named} no longer match")):
            read(folder)


def test_a_mmap_view_verifies_a_chunk_again_when_it_changes_underneath(tiny, tmp_path):
    model = tiny("llama")
    folder = tmp_path / "run"
    clean = _run(model, folder)
    view = load_activations(folder, mmap=True)
    torch.testing.assert_close(view[4:8], clean[4:8])  # chunk 1 verified and read
    _from_another_slot(model, folder, tmp_path)  # same size, a new file underneath
    with pytest.raises(ValueError, match="cannot be read as this job's chunk 1"):
        view[4:8]
    _truncate(folder / "chunk_000001.safetensors")
    with pytest.raises(ValueError, match="cannot be read as this job's chunk 1 \\(unreadable"):
        view[4:8]


def test_a_run_that_failed_before_any_chunk_does_not_block_the_corrected_rerun(tiny, tmp_path):
    model = tiny("llama")
    folder = tmp_path / "run"
    with pytest.raises(ValueError, match="position 1000"):
        _run(model, folder, position=1000)
    assert torch.equal(_run(model, folder), _run(model, tmp_path / "clean"))


def test_a_hook_the_user_registered_is_never_answered_from_the_cache(tiny, tmp_path, caplog):
    model = tiny("llama")
    plain = extract(model, TEXTS, layers=[3], cache=tmp_path, progress=False)  # cached, unhooked
    handle = model.hf_model.model.layers[1].register_forward_hook(lambda module, args, out: (out[0] + 1.0, *out[1:])
                                                                 if isinstance(out, tuple) else out + 1.0)
    try:
        with caplog.at_level(logging.WARNING, logger="veracity.hooks.extract"):
            hooked = extract(model, TEXTS, layers=[3], cache=tmp_path, progress=False)
            again = extract(model, TEXTS, layers=[3], cache=tmp_path, progress=False)
        assert not torch.allclose(hooked, plain)  # computed with the hook, not served from the cache
        torch.testing.assert_close(hooked, extract(model, TEXTS, layers=[3], progress=False))
        torch.testing.assert_close(again, hooked)
        warned = [r for r in caplog.records if "hooks registered outside veracity" in r.getMessage()]
        assert len(warned) == 1 and "model.layers.1" in warned[0].getMessage()
        with pytest.raises(ValueError, match="registered outside veracity .* remove them"):
            extract_cached(model, TEXTS, layers=[3], cache_dir=tmp_path, progress=False)
    finally:
        handle.remove()
    assert torch.equal(extract(model, TEXTS, layers=[3], cache=tmp_path, progress=False), plain)


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 64 KiB tmpfs (mounted when running as root and allowed), else ``None``."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_naming_the_path_and_leaves_nothing_served(tiny, tmp_path, full_disk, monkeypatch):
    import errno

    from veracity.hooks import cache as cache_module

    model = tiny("llama")
    if full_disk is None:  # no tmpfs here: the disk fills up after the first chunk (a simulated ENOSPC)
        real, written = cache_module.save_file, []

        def save_then_fill(tensors, filename, metadata=None):
            if written:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(filename)
            real(tensors, filename, metadata=metadata)

        monkeypatch.setattr(cache_module, "save_file", save_then_fill)
        folder = tmp_path / "acts"
    else:
        folder = full_disk / "acts"
    texts = TEXTS * 40  # 400 texts x 4 layers x 64 floats: far more than 64 KiB
    with pytest.raises(OSError, match=r"cannot write .*acts/(chunk_\d+\.safetensors|job.json): no space left on the "
                                      r"device: free some space or write to another disk") as failed:
        extract_cached(model, texts, layers="all", chunk_size=16, out=folder, progress=False)
    assert "\n" not in str(failed.value)
    assert not list(folder.glob(".*.tmp"))  # no half-written file is left
    monkeypatch.undo()
    moved = tmp_path / "moved"
    subprocess.run(["cp", "-r", str(folder), str(moved)], check=True)
    clean = extract(model, texts, layers="all", progress=False)
    assert torch.equal(extract_cached(model, texts, layers="all", chunk_size=16, out=moved, progress=False),
                       extract_cached(model, texts, layers="all", chunk_size=16, out=tmp_path / "clean", progress=False))
    torch.testing.assert_close(load_activations(moved), clean)
