"""Inputs that used to pass silently now fail with one line that says what to do."""

from __future__ import annotations

import logging

import pytest
import torch

import veracity as vc
from veracity.hooks import count_hooks


@pytest.mark.parametrize("coefficient", [float("nan"), float("inf"), {1: float("nan")}, {1: -float("inf")}])
def test_non_finite_steering_coefficients_are_refused(tiny, coefficient):
    model = tiny("llama")
    vector = vc.SteeringVector({1: torch.randn(64)})
    with pytest.raises(ValueError, match="is not finite: pass a finite number"):
        with vc.steer(model, vector, coefficient=coefficient):
            pass
    assert count_hooks(model) == 0


def test_non_finite_vector_coefficient_is_refused():
    with pytest.raises(ValueError, match="coefficient must be a finite number, got nan"):
        vc.SteeringVector({1: torch.randn(8)}, coefficient=float("nan"))


@pytest.mark.parametrize("layers", [[3.7], ["3"], [True]])
def test_non_integer_layers_are_refused(tiny, layers):
    with pytest.raises(ValueError, match="is not an integer"):
        vc.extract(tiny("llama"), ["hello world"], layers=layers, progress=False)


@pytest.mark.parametrize("kw", [{"batch_size": 1.5}, {"batch_size": 0}, {"max_length": 0}])
def test_sizes_must_be_positive_integers(tiny, kw):
    with pytest.raises(ValueError, match="must be a positive integer"):
        vc.extract(tiny("llama"), ["hello world"], layers=[1], progress=False, **kw)


def test_chunk_size_must_be_a_positive_integer(tiny, tmp_path):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        vc.extract_cached(tiny("llama"), ["hello world"], layers=[1], progress=False, cache_dir=tmp_path, chunk_size="4")


def test_texts_longer_than_the_context_are_refused_or_truncated_with_a_warning(tiny, caplog):
    model = tiny("llama")  # 128 positions
    long = " ".join(["hello world"] * 100)
    with pytest.raises(ValueError, match="more than .* context of 128: shorten it, or pass max_length=128"):
        vc.extract(model, [long], layers=[1], progress=False)
    with caplog.at_level(logging.WARNING, logger="veracity.hooks.extract"):
        cut = vc.extract(model, [long, "hello world"], layers=[1], max_length=128, progress=False)
    assert "truncated 1 of 2 texts to their first 128 tokens" in caplog.text
    first = model.tokenizer(long)["input_ids"][:128]
    torch.testing.assert_close(cut[0], vc.extract(model, [model.tokenizer.decode(first)], layers=[1],
                                                  progress=False)[0])


def test_count_hooks_counts_only_veracitys_own(tiny):
    model = tiny("llama", "transformer_lens")
    vc.extract(model, ["hello world"], layers=[1], progress=False)  # the bridge adds hooks of its own lazily
    assert count_hooks(model) == 0
    vector = vc.SteeringVector({1: torch.randn(64), 2: torch.randn(64)})
    with vc.steer(model, vector, coefficient=1.0):
        assert count_hooks(model) == 3  # two layers and the call observer
    assert count_hooks(model) == 0


def test_statement_files_with_null_or_missing_fields_are_refused(tmp_path):
    from veracity.data import load_statements

    (tmp_path / "null.jsonl").write_text('{"statement": "Paris is in France.", "label": 1}\n'
                                         '{"statement": null, "label": 0}\n')
    with pytest.raises(ValueError, match="null.jsonl row 2 has no 'statement'"):
        load_statements(tmp_path / "null.jsonl")
    (tmp_path / "nolabel.jsonl").write_text('{"statement": "a", "label": 1}\n{"statement": "b"}\n')
    with pytest.raises(ValueError, match="row 2 has no 'label'"):
        load_statements(tmp_path / "nolabel.jsonl")
    (tmp_path / "list.jsonl").write_text('[1, 2]\n')
    with pytest.raises(ValueError, match="row 1 is not an object"):
        load_statements(tmp_path / "list.jsonl")


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu0"])
def test_unknown_devices_are_refused_before_loading(device):
    with pytest.raises(ValueError, match="unknown device"):
        vc.load_model("smollm2-135m", device=device)


def test_artifacts_that_are_not_what_they_claim_are_refused(tmp_path):
    vector = vc.SteeringVector({1: torch.randn(8)})
    vector.save(tmp_path / "v")
    (tmp_path / "v.json").write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match="holds a JSON list, not an artifact's metadata object"):
        vc.SteeringVector.load(tmp_path / "v")
    vector.save(tmp_path / "w")
    (tmp_path / "w.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        vc.SteeringVector.load(tmp_path / "w")


def test_a_gguf_claiming_more_tensors_than_it_can_hold_is_refused(tmp_path):
    import struct

    from veracity.steering import from_gguf

    (tmp_path / "huge.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 10**15, 1) + b"\0" * 64)
    with pytest.raises(ValueError, match="claims 1000000000000000 tensors"):
        from_gguf(tmp_path / "huge.gguf")
    (tmp_path / "text.gguf").write_text("hello")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        from_gguf(tmp_path / "text.gguf")


@pytest.mark.parametrize("where", ["file", "under_file", "read_only"])
def test_output_folders_are_checked_before_any_model_loads(tmp_path, capsys, where, monkeypatch):
    import os

    from veracity import cli

    monkeypatch.delenv("VERACITY_DEBUG", raising=False)
    (tmp_path / "a_file").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    out = {"file": tmp_path / "a_file", "under_file": tmp_path / "a_file" / "out", "read_only": locked / "out"}[where]
    if where == "read_only":
        os.chmod(locked, 0o555)
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): a read-only folder is not read-only here")
    (tmp_path / "t.txt").write_text("hello\n")
    # The model name does not exist: a model load would fail with another message; the folder check comes first.
    assert cli.main(["extract", "--model", "no-such-model", "--input", str(tmp_path / "t.txt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "could not load model" not in err
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "truth_sweep", "--dataset", "cities", "--model", "no-such-model", "--out", str(out)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "--out" in err and "could not load model" not in err


@pytest.mark.parametrize("study, argv", [("truth_sweep", ["--dataset", "cities", "--n", "-5"]),
                                         ("polarity", ["--n", "-5"]), ("demo", ["--n", "-5"])])
def test_negative_sizes_are_refused(study, argv, capsys):
    from veracity import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["run", study, *argv])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "--n must be" in err
