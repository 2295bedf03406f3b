"""Running on NDIF through nnsight (``remote=``), offline.

NDIF cannot be reached from here, so the remote path is checked two ways. nnsight's own dry run
(``remote="local"``) serialises each trace and runs it with every non-installed module hidden, as the
server would: on it, ``extract`` equals the decoder blocks' own outputs for every position kind, and
logits and generation equal the plain model's. And ``load_model(..., remote=True)`` / ``veracity extract
--remote`` fail in one line naming what is missing: the API key, the hub, or the service.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from tiny_models import block_outputs, build_family, build_word_tokenizer, expected_positions

import veracity as vc
from veracity.cli import main
from veracity.hooks import NDIFError, capture_residual
from veracity.hooks.errors import ModelNotFoundError

TEXTS = ["the city of paris is in france", "hello world", "tokyo is in japan and it is a city"]


def dry_run(family: str):
    tokenizer = build_word_tokenizer()
    return vc.from_hf(build_family(family, len(tokenizer)), tokenizer, backend="nnsight", model_id=f"tiny-{family}",
                      remote="local")


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma3"])
def test_remote_extract_equals_the_blocks(family):
    model = dry_run(family)
    enc = model.tokenizer(TEXTS, return_tensors="pt", padding=True)
    blocks = block_outputs(model, enc)  # hooks on the Hugging Face blocks themselves, outside any trace
    expected = {**expected_positions(blocks, enc["attention_mask"]),
                (0, 1, 2): blocks[torch.arange(len(TEXTS)), :, torch.tensor([0, 1, 2])]}
    for position, want in expected.items():
        got = vc.extract(model, TEXTS, layers="all", position=list(position) if isinstance(position, tuple)
                         else position, batch_size=3, progress=False)
        if position == "mean":
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(got, want), (family, position)
    # a shallow layer set stops the trace early and still reads the right block
    assert torch.equal(vc.extract(model, TEXTS, layers=[1], progress=False), expected["last"][:, 1:2])


def test_remote_logits_and_generation_equal_the_model():
    model = dry_run("llama")
    enc = model.tokenizer(TEXTS[:1], return_tensors="pt")
    with torch.no_grad():
        want = model.hf_model(**enc).logits
        tokens = model.hf_model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert torch.equal(model.engine.logits(enc["input_ids"], enc["attention_mask"]), want)
    got = model.engine.generate(enc["input_ids"], enc["attention_mask"], max_new_tokens=4, do_sample=False)
    assert torch.equal(got, tokens)


def test_hooks_are_refused_on_a_remote_model():
    model = dry_run("llama")
    vector = vc.SteeringVector({1: torch.ones(model.d_model)}, model_id=model.model_id)
    with pytest.raises(ValueError, match="PyTorch hooks cannot reach it") as err:
        with vc.steer(model, vector, coefficient=1.0):
            pass
    assert "\n" not in str(err.value) and model.engine.steering == []
    with pytest.raises(ValueError, match="for steering load the model here"):
        with capture_residual(model, [1]):
            pass
    with pytest.raises(ValueError, match="runs on NDIF"):
        model.engine.step(torch.tensor([[3]]), torch.tensor([[1]]), torch.tensor([[0]]))


def test_remote_needs_an_api_key_and_a_hub_name(monkeypatch):
    from nnsight import CONFIG

    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    with pytest.raises(ValueError, match="NDIF_API_KEY"):
        vc.load_model("meta-llama/Llama-3.1-8B", backend="nnsight", remote=True)
    with pytest.raises(ValueError, match="only the nnsight backend"):
        vc.load_model("meta-llama/Llama-3.1-8B", backend="hf", remote=True)
    with pytest.raises(ValueError, match="embedded model or a local folder"):
        vc.load_model("smollm2-135m", backend="nnsight", remote=True)
    with pytest.raises(ValueError, match="does not apply to a remote model"):
        vc.load_model("meta-llama/Llama-3.1-8B", backend="nnsight", remote=True, device="cpu")
    with pytest.raises(ValueError, match="True or an NDIF host URL"):
        vc.load_model("meta-llama/Llama-3.1-8B", backend="nnsight", remote="local")
    tokenizer = build_word_tokenizer()
    with pytest.raises(ValueError, match="already in memory cannot run on NDIF"):
        vc.from_hf(build_family("llama", len(tokenizer)), tokenizer, backend="nnsight", remote=True)
    with pytest.raises(ValueError, match="takes no option remote"):
        vc.from_hf(build_family("llama", len(tokenizer)), tokenizer, backend="hf", remote="local")


def test_cli_without_a_key_exits_2_in_one_line(tmp_path, monkeypatch, capsys):
    from nnsight import CONFIG

    monkeypatch.setattr(CONFIG.API, "APIKEY", None)
    (tmp_path / "texts.txt").write_text("the city of paris is in france\n")
    code = main(["extract", "--model", "meta-llama/Llama-3.1-8B", "--backend", "nnsight", "--remote", "--input",
                 str(tmp_path / "texts.txt"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "NDIF_API_KEY" in err and "\n" not in err


def fake_hub(root, repo: str) -> None:
    """A Hugging Face cache holding only the config and tokenizer of a tiny model under ``repo``."""
    tokenizer = build_word_tokenizer()
    snapshot = root / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    build_family("llama", len(tokenizer)).config.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)


@pytest.mark.parametrize("cached", [False, True])
def test_cli_remote_offline_fails_in_one_line(tmp_path, cached):
    """With a key: the config and tokenizer cannot come from the hub, or (cached) the run cannot reach
    the service; either way exit 2 and one line, never a traceback."""
    if cached:
        fake_hub(tmp_path / "hub", "tiny-org/tiny-llama")
    (tmp_path / "texts.txt").write_text("the city of paris is in france\nhello world\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "NDIF_API_KEY": "a-key"}
    run = subprocess.run([sys.executable, "-m", "veracity.cli", "extract", "--model", "tiny-org/tiny-llama",
                          "--backend", "nnsight", "--remote", "--input", str(tmp_path / "texts.txt"), "--out",
                          str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in run.stderr.splitlines() if "error:" in line]
    assert run.returncode == 2 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    if cached:
        assert "the NDIF run of tiny-org/tiny-llama" in lines[0] and "check the network" in lines[0]
    else:
        assert "needs its config and tokenizer from the Hugging Face hub" in lines[0]


def test_error_types_are_the_documented_ones():
    assert issubclass(NDIFError, OSError) and issubclass(ModelNotFoundError, OSError)
