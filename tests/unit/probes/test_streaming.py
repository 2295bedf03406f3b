"""Probes fitted from activations on disk, chunk by chunk, equal the in-memory fits (parity)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import WORDS, build_tiny, build_word_tokenizer

import veracity as vc
from veracity.probes import LogisticProbe, MassMeanProbe, PIKHead


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A real extraction on disk: 90 texts of a tiny Llama, 4 layers, chunks of 16 rows (6 chunks)."""
    tokenizer = build_word_tokenizer()
    model = vc.from_hf(build_tiny("llama", len(tokenizer)), tokenizer, model_id="tiny-llama")
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[:40], size=rng.integers(3, 9))) for _ in range(90)]
    out = tmp_path_factory.mktemp("acts") / "run"
    view = vc.extract_cached(model, texts, layers="all", out=out, chunk_size=16, assemble=False, progress=False)
    assert isinstance(view, vc.hooks.view.ActivationView) and view.n_chunks == 6
    return out


def labels_for(x: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Labels a linear rule plus noise assigns to each row (so both classes and a real signal exist)."""
    rng = np.random.default_rng(seed)
    score = x.double().numpy() @ rng.normal(size=x.shape[1]) + rng.normal(scale=0.5, size=x.shape[0])
    return (score > np.median(score)).astype(int)


def test_the_view_reads_what_load_activations_returns(folder):
    view = vc.load_activations(folder, mmap=True)
    acts = vc.load_activations(folder)
    assert view.shape == tuple(acts.shape) == (90, 4, 64) and len(view) == 90
    assert torch.equal(view.to_tensor(), acts)
    layer = view.layer(2)
    assert layer.shape == (90, 64)
    assert torch.equal(torch.cat(list(layer.chunks())), acts[:, 2])
    for rows in (7, slice(5, 80, 3), [89, 0, 16, 17], np.arange(90) % 3 == 0):
        assert torch.equal(view[rows], acts[rows]) and torch.equal(layer[rows], acts[:, 2][rows])
    assert np.array_equal(np.asarray(layer), acts[:, 2].numpy())
    with pytest.raises(ValueError, match=r"layer 9 is not in this extraction \(it holds layers \[0, 1, 2, 3\]\)"):
        view.layer(9)


def test_a_corrupt_chunk_is_never_served_by_the_view(folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    chunk = copy / "chunk_000003.safetensors"
    data = bytearray(chunk.read_bytes())
    data[-5] ^= 0xFF
    chunk.write_bytes(bytes(data))
    view = vc.load_activations(copy, mmap=True)
    assert torch.equal(view[:48], vc.load_activations(folder)[:48])
    with pytest.raises(ValueError, match="chunk_000003.safetensors cannot be read as this job's chunk 3 \\(checksum "
                                         "mismatch\\): run the extraction into this folder again"):
        view[50]
    assert chunk.read_bytes() == bytes(data)  # refused, and the user's file left as it was


@pytest.mark.parametrize("make", [
    lambda: LogisticProbe(C=0.5),
    lambda: LogisticProbe(C=0.5, standardize=False),
    lambda: MassMeanProbe(),
    lambda: MassMeanProbe(iid=True, ridge=1e-2),
    lambda: PIKHead(),
    lambda: PIKHead(hidden=8, n_epochs=60),
], ids=["logistic", "logistic-raw", "mass-mean", "mass-mean-iid", "pik-linear", "pik-mlp"])
def test_streamed_fit_equals_the_in_memory_fit(folder, make):
    view = vc.load_activations(folder, mmap=True).layer(3)
    x = view.to_tensor()
    y = labels_for(x)
    on_disk, in_memory = make().fit(view, y), make().fit(x, y)
    torch.testing.assert_close(on_disk.direction_, in_memory.direction_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(on_disk.decision_function(x), in_memory.decision_function(x), rtol=1e-5, atol=1e-5)
    assert on_disk.n_features_in_ == 64


def test_streamed_fits_refuse_what_in_memory_fits_refuse(folder):
    view = vc.load_activations(folder, mmap=True)
    y = np.arange(90) % 2
    with pytest.raises(ValueError, match=r"a probe fits one layer: pass view.layer\(L\)"):
        LogisticProbe().fit(view, y)
    with pytest.raises(ValueError, match="y has 10 labels for 90 examples"):
        MassMeanProbe().fit(view.layer(1), y[:10])
    with pytest.raises(ValueError, match="exactly two classes"):
        LogisticProbe().fit(view.layer(1), np.zeros(90))


def test_the_optimiser_device_is_chosen_and_checked(folder):
    from veracity.probes.optim import fit_device

    assert fit_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    view = vc.load_activations(folder, mmap=True).layer(1)
    x = view.to_tensor()
    y = labels_for(x)
    a, b = LogisticProbe(device="cpu").fit(view, y), LogisticProbe(device=None).fit(x, y)
    np.testing.assert_allclose(a.decision_function(x), b.decision_function(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        LogisticProbe(device="tpu").fit(x, y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA GPU here: use 'cpu' or None"):
            PIKHead(device="cuda").fit(x, y)
