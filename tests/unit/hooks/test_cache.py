"""The disk cache: reads back without running the model, atomic, resumable, shardable."""

import json

import pytest
import torch

from veracity.hooks import extract, extract_cached, observer

TEXTS = [f"the city of {c} is in {k} ." for c, k in [("paris", "france"), ("rome", "italy"), ("tokyo", "japan"),
                                                      ("lima", "peru"), ("cairo", "egypt"), ("berlin", "germany")]] * 2
TEXTS = [t + " yes" * i for i, t in enumerate(TEXTS)]


class ForwardCounter:
    """Counts forward passes that reach the embeddings (a hook on the model, removed after; it only reads,
    so it is marked an observer and the cache may answer while it is there)."""

    def __init__(self, model, fail_on=None):
        self.calls, self.fail_on = 0, fail_on
        self.handle = model.hf_model.get_input_embeddings().register_forward_hook(observer(self))

    def __call__(self, *_):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")

    def remove(self):
        self.handle.remove()


def test_second_call_reads_cache_without_running_model(tiny, tmp_path):
    model = tiny("llama")
    first = extract_cached(model, TEXTS, layers=[0, 2], cache_dir=tmp_path, progress=False, chunk_size=5)
    counter = ForwardCounter(model)
    try:
        second = extract_cached(model, TEXTS, layers=[0, 2], cache_dir=tmp_path, progress=False, chunk_size=5)
    finally:
        counter.remove()
    assert counter.calls == 0
    torch.testing.assert_close(second, first)
    torch.testing.assert_close(first, extract(model, TEXTS, layers=[0, 2], progress=False))


def test_cache_folder_holds_only_whole_files(tiny, tmp_path):
    model = tiny("llama")
    extract_cached(model, TEXTS, layers=[1], cache_dir=tmp_path, progress=False, chunk_size=5)
    (job,) = tmp_path.iterdir()
    names = sorted(p.name for p in job.iterdir())
    assert names == ["chunk_000000.safetensors", "chunk_000001.safetensors", "chunk_000002.safetensors", "job.json"]
    meta = json.loads((job / "job.json").read_text())
    assert meta["layers"] == [1] and meta["site"] == "resid_post" and "after block L" in meta["layer_convention"]


def test_key_changes_with_layers_position_template(tiny, tmp_path):
    model = tiny("llama")
    for kwargs in ({"layers": [1]}, {"layers": [2]}, {"layers": [1], "position": "mean"},
                   {"layers": [1], "template": "answer : {text}"}):
        extract_cached(model, TEXTS, cache_dir=tmp_path, progress=False, **kwargs)
    assert len(list(tmp_path.iterdir())) == 4


def test_interrupted_run_resumes_from_finished_chunks(tiny, tmp_path):
    model = tiny("llama")
    kwargs = dict(layers="all", cache_dir=tmp_path, progress=False, chunk_size=4, batch_size=2)
    counter = ForwardCounter(model, fail_on=4)  # dies in the second chunk (2 batches per chunk)
    with pytest.raises(KeyboardInterrupt):
        extract_cached(model, TEXTS, **kwargs)
    counter.remove()
    (job,) = tmp_path.iterdir()
    assert sorted(p.name for p in job.iterdir()) == ["chunk_000000.safetensors", "job.json"]
    counter = ForwardCounter(model)
    resumed = extract_cached(model, TEXTS, **kwargs)
    counter.remove()
    assert counter.calls == 4  # chunks 1 and 2 only, two batches each
    torch.testing.assert_close(resumed, extract(model, TEXTS, layers="all", progress=False))


def test_shards_fill_one_cache(tiny, tmp_path):
    model = tiny("gpt2")
    kwargs = dict(layers=[0, 3], cache_dir=tmp_path, progress=False, chunk_size=3)
    part0 = extract_cached(model, TEXTS, shard=(0, 2), **kwargs)
    part1 = extract_cached(model, TEXTS, shard=(1, 2), **kwargs)
    full = extract(model, TEXTS, layers=[0, 3], progress=False)
    torch.testing.assert_close(part0, torch.cat([full[0:3], full[6:9]]))
    torch.testing.assert_close(part1, torch.cat([full[3:6], full[9:12]]))
    counter = ForwardCounter(model)
    torch.testing.assert_close(extract_cached(model, TEXTS, **kwargs), full)
    counter.remove()
    assert counter.calls == 0


def test_bad_shard(tiny, tmp_path):
    with pytest.raises(ValueError, match="0 <= i < n"):
        extract_cached(tiny("llama"), TEXTS, cache_dir=tmp_path, shard=(2, 2), progress=False)
