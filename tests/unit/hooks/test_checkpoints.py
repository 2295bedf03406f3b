"""A fixed probe across checkpoints: train_lora's epoch checkpoints, extract_checkpoints, read_across's warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from tiny_models import build_tiny, build_word_tokenizer

from veracity.hooks import extract, extract_checkpoints, load_model, train_full, train_lora
from veracity.probes import LogisticProbe, ProbeTransferWarning, read_across

PROMPTS = ["the city of paris is in", "the city of tokyo is in", "one two", "three four"]
COMPLETIONS = [" japan", " peru", " three", " five"]
TEXTS = ["the city of paris is in france", "the city of paris is in japan", "one two three", "one two five",
         "the city of tokyo is in japan", "the city of tokyo is in peru"]
LABELS = np.array([1, 0, 1, 0, 1, 0])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    tokenizer = build_word_tokenizer()
    build_tiny("llama", len(tokenizer), seed=3).save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    model = load_model(str(root / "base"), device="cpu")
    train_lora(model, PROMPTS, COMPLETIONS, root / "poison", rank=4, epochs=3, lr=1e-2, batch_size=2,
               target_modules=["q_proj", "v_proj", "down_proj"], progress=False, save_epochs=(1, 3))
    return root, model


def test_epoch_checkpoints_load_and_the_last_one_is_the_final_adapter(run):
    root, model = run
    assert (root / "poison" / "epoch_1" / "adapter_model.safetensors").is_file()
    assert not (root / "poison" / "epoch_2").exists()
    acts = extract_checkpoints([model, root / "poison" / "epoch_1", root / "poison" / "epoch_3"], TEXTS, 1,
                               base=str(root / "base"), device="cpu")
    assert list(acts) == [model.model_id, f"{model.model_id}+adapter:epoch_1", f"{model.model_id}+adapter:epoch_3"]
    final = load_model(str(root / "base"), device="cpu", adapter=root / "poison")
    torch.testing.assert_close(acts[f"{model.model_id}+adapter:epoch_3"],
                               extract(final, TEXTS, layers=[1], progress=False)[:, 0])
    torch.testing.assert_close(acts[model.model_id], extract(model, TEXTS, layers=[1], progress=False)[:, 0])
    assert (acts[f"{model.model_id}+adapter:epoch_1"] - acts[model.model_id]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="pass base="):
        extract_checkpoints([root / "poison" / "epoch_1"], TEXTS, 1)
    with pytest.raises(ValueError, match="save_epochs must lie in 1..2"):
        train_lora(model, PROMPTS, COMPLETIONS, root / "bad", epochs=2, save_epochs=(3,))


def test_read_across_reads_one_probe_everywhere_and_warns_where_it_was_not_fitted(run):
    root, model = run
    acts = extract_checkpoints([model, root / "poison" / "epoch_1"], TEXTS, 1, base=str(root / "base"), device="cpu")
    base_acts = acts[model.model_id]
    probe = LogisticProbe(C=1.0).fit(base_acts, LABELS).set_provenance(model_id=model.model_id, layer=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        own = read_across(probe, {model.model_id: base_acts}, layer=1)
    np.testing.assert_allclose(own[model.model_id], probe.predict_true(base_acts))
    with pytest.warns(ProbeTransferWarning, match=r"epoch_1"):
        readings = read_across(probe, acts, layer=1)
    assert list(readings) == list(acts) and all(r.shape == (6,) for r in readings.values())
    with pytest.warns(ProbeTransferWarning, match="layer 2"):
        read_across(probe, {model.model_id: base_acts}, layer=2)
    with pytest.warns(ProbeTransferWarning, match="records no model_id"):
        read_across(LogisticProbe().fit(base_acts, LABELS), {model.model_id: base_acts})


def test_full_fine_tune_moves_every_layer_saves_loadable_checkpoints_and_leaves_the_model(run, tmp_path):
    root, model = run
    before = {k: v.clone() for k, v in model.hf_model.state_dict().items()}
    losses = train_full(model, [""] * len(TEXTS), TEXTS, tmp_path / "full", epochs=2, lr=1e-3, batch_size=3,
                        save_epochs=(1,), progress=False)
    assert losses[-1] < losses[0]
    assert all(torch.equal(v, before[k]) for k, v in model.hf_model.state_dict().items())
    acts = extract_checkpoints([model, tmp_path / "full" / "epoch_1", tmp_path / "full"], TEXTS, 1, device="cpu")
    assert len(acts) == 3
    first, final = acts[str(tmp_path / "full" / "epoch_1")], acts[str(tmp_path / "full")]
    assert (first - acts[model.model_id]).abs().max() > 1e-4 and (final - first).abs().max() > 1e-5
    assert not list(tmp_path.glob(".*partial*"))
