"""Every bad input, in one table: the exact kind of failure, its one-line message and the exit code.

Each row is one bad input, given through the Python API (the exception's exact class and a
pattern its one-line message must match, including what to do) or through the command line,
``veracity ...`` and ``veracity run STUDY ...`` (exit code 2 and exactly one line on stderr
matching the pattern). Rows build their own broken files from good ones written by veracity;
models are tiny random ones built from config (a saved folder for the command line).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_models import build_tiny, build_word_tokenizer

import veracity as vc
from veracity.atomic import WriteFailed
from veracity.data import load_questions_csv, load_statements
from veracity.experiments import load_results
from veracity.hooks import continuation_logprobs, load_activations, read_job
from veracity.hooks.errors import ModelNotFoundError
from veracity.monitors import Dialogue, OnPolicyMonitor, SelfReportMonitor, load_monitor
from veracity.probes import CCS, LogisticProbe, MassMeanProbe, TemperatureScaling, auroc, bootstrap_ci, load_probe
from veracity.probes.splits import grouped_split
from veracity.steering import export, from_gguf, from_safetensors, to_gguf
from veracity.steering.vector import SteeringVector


class World:
    """What the rows act on: a tiny model, a folder of good artifacts, and helpers to break copies."""

    def __init__(self, root: Path):
        self.root = root
        tokenizer = build_word_tokenizer()
        self.model = vc.from_hf(build_tiny("llama", len(tokenizer)), tokenizer, model_id="tiny-llama")
        self.model_dir = root / "tiny-model"
        self.model.hf_model.save_pretrained(self.model_dir)
        tokenizer.save_pretrained(self.model_dir)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(40, 64)).astype(np.float32)
        y = (x[:, 0] > 0).astype(int)
        self.x, self.y = x, y
        LogisticProbe().fit(x, y).save(root / "logistic")
        MassMeanProbe().fit(x, y).save(root / "massmean")
        TemperatureScaling().fit(rng.normal(size=40), y).save(root / "temperature")
        self.vector = SteeringVector({1: torch.randn(64), 2: torch.randn(64)}, model_id="tiny-llama", n_layers=4)
        self.vector.save(root / "vector")
        (root / "a_file").write_text("x")
        (root / "texts.txt").write_text("hello world\nthe cat\n")
        (root / "long.txt").write_text(" ".join(["hello world"] * 100) + "\n")
        (root / "quote.csv").write_text('statement,label\nx,1\n"unterminated,0\n')
        self.count = 0

    def copy(self, name: str, tensors=None, meta=None, raw_json: str | None = None) -> Path:
        """A copy of artifact ``name`` with its tensors and/or JSON replaced by ``tensors(t)`` / ``meta(m)``."""
        self.count += 1
        stem = self.root / f"{name}_{self.count}"
        t = load_file(str(self.root / f"{name}.safetensors"))
        m = json.loads((self.root / f"{name}.json").read_text())
        save_file(tensors(t) if tensors else t, str(stem.with_suffix(".safetensors")))
        stem.with_suffix(".json").write_text(raw_json if raw_json is not None else json.dumps(meta(m) if meta else m))
        return stem

    def garbage_tensors(self, name: str) -> Path:
        """A copy of artifact ``name`` whose ``.safetensors`` holds bytes that are not safetensors."""
        stem = self.copy(name)
        stem.with_suffix(".safetensors").write_bytes(b"garbage, not safetensors")
        return stem

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.root / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def gguf(self, tensors: dict[str, np.ndarray], arch: str = "controlvector", meta: str | None = None) -> Path:
        import gguf

        self.count += 1
        path = self.root / f"v{self.count}.gguf"
        writer = gguf.GGUFWriter(str(path), arch)
        if meta is not None:
            writer.add_string("veracity.metadata", meta)
        for name, array in tensors.items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path


def with_(d: dict, **changes) -> dict:
    return {**d, **changes}


def without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


@dataclass
class Api:
    """A Python call that must raise exactly ``kind`` with a one-line message matching ``pattern``."""

    id: str
    call: Callable[[World], object]
    kind: type[Exception]
    pattern: str


@dataclass
class Cli:
    """``veracity ARGV`` (``{root}`` and ``{model}`` filled in) must exit 2 with one stderr line matching ``pattern``."""

    id: str
    argv: list[str]
    pattern: str


def extract(w: World, texts=("hello world", "the cat"), **kw):
    return vc.extract(w.model, list(texts) if isinstance(texts, tuple) else texts, **{"layers": [1], "progress": False,
                                                                                       **kw})


def extract_cached(w: World, texts=("hello world", "the cat"), **kw):
    return vc.extract_cached(w.model, list(texts), **{"layers": [1], "progress": False, "cache_dir": w.root / "cache",
                                                      **kw})


def nan_at(t: dict, name: str) -> dict:
    t = dict(t)
    t[name] = t[name].clone()
    t[name][0] = float("nan")
    return t


def vector_with(direction=None, **fields):
    return SteeringVector({1: torch.randn(64) if direction is None else direction}, **fields)


def _continuation(w: World, prompts=("hello world",), continuations=(" the cat",)):
    return continuation_logprobs(w.model, list(prompts), list(continuations), progress=False)


API = [
    # ---- multiple-choice scoring, grouped intervals and splits, own question files
    Api("continuation-count", lambda w: _continuation(w, continuations=(" a", " b")), ValueError,
        r"1 prompts but 2 continuations"),
    Api("continuation-empty", lambda w: _continuation(w, continuations=("",)), ValueError, r"tokenises to nothing"),
    Api("continuation-one-string", lambda w: continuation_logprobs(w.model, "hello", [" a"]), ValueError,
        r"list of strings"),
    Api("bootstrap-groups-length", lambda w: bootstrap_ci(auroc, [0.1, 0.9], [0, 1], groups=[1]),
        ValueError, r"groups must give one id per example"),
    Api("questions-csv-columns", lambda w: load_questions_csv(w.root / "texts.txt"), ValueError,
        r"needs a header with columns question,answer"),
    Api("questions-csv-missing", lambda w: load_questions_csv(w.root / "nothing.csv"), FileNotFoundError,
        r"no questions file at"),
    # ---- extract: texts, layers, positions, sizes, dtypes, places
    Api("extract-layer-float", lambda w: extract(w, layers=[3.7]), ValueError, r"is not an integer"),
    Api("extract-layer-str", lambda w: extract(w, layers=["3"]), ValueError, r"is not an integer"),
    Api("extract-layer-bool", lambda w: extract(w, layers=[True]), ValueError, r"is not an integer"),
    Api("extract-layer-beyond", lambda w: extract(w, layers=[9]), ValueError, r"layer 9 .*4"),
    Api("extract-layer-word", lambda w: extract(w, layers="some"), ValueError, r"'some'"),
    Api("extract-layer-empty-range", lambda w: extract(w, layers="3:1"), ValueError, r"3:1: the range selects no layer"),
    Api("extract-layer-range-past", lambda w: extract(w, layers="2:9"), ValueError, r"2:9: the range reaches past"),
    Api("extract-layer-every-zero", lambda w: extract(w, layers="every:0"), ValueError, r"step must be at least 1"),
    Api("extract-batch-float", lambda w: extract(w, batch_size=1.5), ValueError, r"batch_size must be a positive integer"),
    Api("extract-batch-zero", lambda w: extract(w, batch_size=0), ValueError, r"batch_size must be a positive integer"),
    Api("extract-chunk-str", lambda w: extract_cached(w, chunk_size="4"), ValueError, r"chunk_size must be a positive integer"),
    Api("extract-max-length-zero", lambda w: extract(w, max_length=0), ValueError, r"max_length must be a positive"),
    Api("extract-dtype-unknown", lambda w: extract(w, dtype="float17"), ValueError, r"dtype must be a floating .* got 'float17'"),
    Api("extract-dtype-int", lambda w: extract(w, dtype=torch.int64), ValueError, r"dtype must be a floating"),
    Api("extract-no-texts", lambda w: extract(w, texts=[]), ValueError, r"no texts"),
    Api("extract-one-string", lambda w: extract(w, texts="hello world"), ValueError, r"list of strings"),
    Api("extract-none-text", lambda w: extract(w, texts=["hello", None]), ValueError, r"text 1 is None .*pass a list of strings"),
    Api("extract-position-word", lambda w: extract(w, position="middle"), ValueError, r"position"),
    Api("extract-position-count", lambda w: extract(w, position=[0]), ValueError, r"position.* 1 .* 2 texts"),
    Api("extract-cache-number", lambda w: extract(w, cache=3), ValueError, r"cache must be True, False or a cache folder, got 3"),
    Api("extract-shard-past", lambda w: extract_cached(w, shard=(2, 2)), ValueError, r"0 <= i < n"),
    Api("extract-view-shard", lambda w: extract_cached(w, shard=(0, 2), assemble=False), ValueError,
        r"assemble=False takes no shard"),
    Api("extract-too-long", lambda w: extract(w, texts=[" ".join(["hello world"] * 100)]), ValueError,
        r"context of 128: shorten it, or pass max_length=128"),
    Api("extract-template-no-slot", lambda w: extract(w, template="Is it true?"), ValueError, r"\{text\}"),
    Api("extract-template-unknown-field", lambda w: extract(w, template="{text} and {other}"), ValueError,
        r"unknown field\(s\) \{other\}: only \{text\} is filled in"),
    Api("extract-out-is-file", lambda w: extract_cached(w, out=w.root / "a_file"), NotADirectoryError, r"a_file is a file: pass a folder"),
    Api("extract-out-under-file", lambda w: extract_cached(w, out=w.root / "a_file" / "x"), NotADirectoryError, r"which is a file: pass another folder"),
    Api("extract-out-other-job", lambda w: (extract_cached(w, out=w.root / "job"), extract_cached(w, texts=("other",), out=w.root / "job")),
        ValueError, r"holds activations of another job .*: choose a new output folder"),
    # ---- models
    Api("load-device-tpu", lambda w: vc.load_model("smollm2-135m", device="tpu"), ValueError, r"unknown device 'tpu': use cpu"),
    Api("load-device-cuda-x", lambda w: vc.load_model("smollm2-135m", device="cuda:x"), ValueError, r"unknown device"),
    Api("load-dtype", lambda w: vc.load_model(str(w.model_dir), device="cpu", dtype="float17"), ValueError,
        r"unknown dtype 'float17': use"),
    Api("load-backend", lambda w: vc.load_model(str(w.model_dir), device="cpu", backend="jax"), ValueError, r"jax"),
    Api("load-missing-model", lambda w: vc.load_model("no-such-model", device="cpu"), ModelNotFoundError,
        r"could not load model 'no-such-model'.*pass a local model folder"),
    # ---- remote (NDIF) runs: refused before any network access
    Api("remote-backend-hf", lambda w: vc.load_model("org/model", backend="hf", remote=True), ValueError,
        r"only the nnsight backend reaches: pass backend='nnsight'"),
    Api("remote-embedded", lambda w: vc.load_model("smollm2-135m", backend="nnsight", remote=True), ValueError,
        r"embedded model or a local folder; load it without remote"),
    Api("remote-folder", lambda w: vc.load_model(str(w.model_dir), backend="nnsight", remote=True), ValueError,
        r"embedded model or a local folder"),
    Api("remote-dtype", lambda w: vc.load_model("org/model", backend="nnsight", remote=True, dtype="float16"),
        ValueError, r"dtype= does not apply to a remote model"),
    Api("remote-value", lambda w: vc.load_model("org/model", backend="nnsight", remote="yes"), ValueError,
        r"remote must be True or an NDIF host URL"),
    Api("remote-in-memory", lambda w: vc.from_hf(w.model.hf_model, w.model.tokenizer, backend="nnsight",
                                                 remote=True), ValueError, r"load_model\(NAME, backend='nnsight'"),
    # ---- steering
    Api("steer-coef-nan", lambda w: vc.steer(w.model, w.vector, coefficient=float("nan")).__enter__(), ValueError,
        r"not finite: pass a finite number"),
    Api("steer-coef-inf", lambda w: vc.steer(w.model, w.vector, coefficient=float("inf")).__enter__(), ValueError,
        r"not finite"),
    Api("steer-coef-dict-nan", lambda w: vc.steer(w.model, w.vector, coefficient={1: float("nan")}).__enter__(),
        ValueError, r"not finite"),
    Api("steer-coef-dict-neg-inf", lambda w: vc.steer(w.model, w.vector, coefficient={1: -float("inf")}).__enter__(),
        ValueError, r"not finite"),
    Api("steer-coef-str", lambda w: vc.steer(w.model, w.vector, coefficient="big").__enter__(), TypeError, r"coefficient must be a number or a \{layer: number\} dict"),
    Api("steer-width", lambda w: vc.steer(w.model, vector_with(torch.randn(32))).__enter__(), ValueError,
        r"d_model=32, model has 64: build the vector on this model"),
    Api("steer-layer-beyond", lambda w: vc.steer(w.model, SteeringVector({7: torch.randn(64)})).__enter__(), ValueError,
        r"layer 7, model .* has only 4 blocks"),
    Api("steer-not-a-vector", lambda w: vc.steer(w.model, "honesty").__enter__(), TypeError, r"steer needs a SteeringVector, got str: build one"),
    # ---- steering vectors built in code
    Api("vector-coef-nan", lambda w: vector_with(coefficient=float("nan")), ValueError, r"coefficient must be a finite number"),
    Api("vector-empty", lambda w: SteeringVector({}), ValueError, r"at least one \{layer: direction\}"),
    Api("vector-negative-layer", lambda w: SteeringVector({-1: torch.randn(8)}), ValueError, r"non-negative ints"),
    Api("vector-float-layer", lambda w: SteeringVector({1.5: torch.randn(8)}), ValueError, r"non-negative ints"),
    Api("vector-2d", lambda w: SteeringVector({1: torch.randn(2, 8)}), ValueError, r"must be 1-D"),
    Api("vector-nan-direction", lambda w: vector_with(torch.full((8,), float("nan"))), ValueError, r"NaN or inf"),
    Api("vector-widths", lambda w: SteeringVector({1: torch.randn(8), 2: torch.randn(9)}), ValueError, r"differ in width"),
    Api("vector-normalization", lambda w: vector_with(normalization="foo"), ValueError, r"unknown normalization 'foo'"),
    Api("vector-beyond-n-layers", lambda w: SteeringVector({5: torch.randn(8)}, n_layers=3), ValueError,
        r"layer 5 is beyond n_layers=3"),
    Api("vector-n-layers-zero", lambda w: vector_with(n_layers=0), ValueError, r"n_layers must be a positive integer"),
    Api("vector-model-id-int", lambda w: vector_with(model_id=5), ValueError, r"model_id must be a string"),
    Api("vector-extra-list", lambda w: vector_with(extra=[1]), ValueError, r"extra must be a dict"),
    Api("vector-select-missing", lambda w: w.vector.select([3]), ValueError, r"no layer 3"),
    # ---- steering vector files
    Api("vector-file-missing", lambda w: SteeringVector.load(w.root / "nothing"), FileNotFoundError, r"not found: pass"),
    Api("vector-json-invalid", lambda w: SteeringVector.load(w.copy("vector", raw_json="{oops")), ValueError,
        r"is not valid JSON"),
    Api("vector-json-list", lambda w: SteeringVector.load(w.copy("vector", raw_json="[1, 2]")), ValueError,
        r"holds a JSON list"),
    Api("vector-json-nan", lambda w: SteeringVector.load(w.copy("vector", raw_json=(w.root / "vector.json").read_text()
                                                                .replace('"coefficient": 1.0', '"coefficient": NaN'))),
        ValueError, r"non-finite number NaN"),
    Api("vector-json-class", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: with_(m, **{"class": "CCS"}))),
        ValueError, r"holds a 'CCS', not a SteeringVector"),
    Api("vector-not-safetensors", lambda w: SteeringVector.load(w.garbage_tensors("vector")), ValueError,
        r"not a readable safetensors file"),
    Api("probe-not-safetensors", lambda w: load_probe(w.garbage_tensors("logistic")), ValueError,
        r"not a readable safetensors file"),
    Api("vector-tensor-name-x", lambda w: SteeringVector.load(w.copy("vector", tensors=lambda t: {"direction.x": t["direction.1"]})),
        ValueError, r"unexpected tensor 'direction.x'"),
    Api("vector-tensor-name-weight", lambda w: SteeringVector.load(w.copy("vector", tensors=lambda t: with_(t, weight=t["direction.1"].clone()))),
        ValueError, r"unexpected tensor 'weight'"),
    Api("vector-tensor-nan", lambda w: SteeringVector.load(w.copy("vector", tensors=lambda t: nan_at(t, "direction.1"))),
        ValueError, r"tensor 'direction.1' holds NaN or inf"),
    Api("vector-tensor-int", lambda w: SteeringVector.load(w.copy("vector", tensors=lambda t: with_(
        t, **{"direction.1": torch.ones(64, dtype=torch.int32)}))), ValueError, r"dtype torch.int32, not a float"),
    Api("vector-tensor-2d", lambda w: SteeringVector.load(w.copy("vector", tensors=lambda t: with_(
        t, **{"direction.1": torch.ones(2, 32)}))), ValueError, r"must be 1-D"),
    Api("vector-json-layers", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: with_(m, layers=[1, 3]))),
        ValueError, r"tensors hold layers \[1, 2\] but the JSON says \[1, 3\]"),
    Api("vector-json-d-model", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: with_(m, d_model=65))),
        ValueError, r"width 64 but the JSON says 65"),
    Api("vector-json-version", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: with_(m, format_version=99))),
        ValueError, r"format_version 99.*upgrade veracity"),
    Api("vector-json-version-str", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: with_(m, format_version="2"))),
        ValueError, r"format_version must be an integer"),
    Api("vector-json-n-layers", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: with_(m, n_layers=2))),
        ValueError, r"layer 2 is beyond n_layers=2"),
    Api("vector-no-tensors", lambda w: SteeringVector.load(w.copy("vector", tensors=lambda t: {"other": t["direction.1"]})),
        ValueError, r"unexpected tensor 'other'"),
    # ---- probe files
    Api("probe-missing", lambda w: load_probe(w.root / "nothing"), FileNotFoundError, r"not found"),
    Api("probe-unknown-class", lambda w: load_probe(w.copy("logistic", meta=lambda m: with_(m, **{"class": "Oracle"}))),
        ValueError, r"unknown class 'Oracle'; known classes"),
    Api("probe-json-no-class", lambda w: load_probe(w.copy("logistic", meta=lambda m: without(m, "class"))), ValueError,
        r"has no \"class\" field: it is not a veracity artifact, or its JSON was edited"),
    Api("probe-json-no-class-direct", lambda w: LogisticProbe.load(w.copy("logistic", meta=lambda m: without(m, "class"))),
        ValueError, r"has no \"class\" field"),
    Api("vector-json-no-class", lambda w: SteeringVector.load(w.copy("vector", meta=lambda m: without(m, "class"))),
        ValueError, r"has no \"class\" field: .* save the vector again"),
    Api("split-one-label", lambda w: grouped_split(["a", "b", "c", "d"], 0.5, 0, labels=[1, 1, 1, 1]), ValueError,
        r"every row has the label 1: a probe needs true and false examples; pass a dataset with both"),
    Api("probe-class-mismatch", lambda w: LogisticProbe.load(w.root / "massmean"), ValueError,
        r"holds a MassMeanProbe, not a LogisticProbe: use veracity.probes.load_probe"),
    Api("probe-missing-tensor", lambda w: load_probe(w.copy("logistic", tensors=lambda t: without(t, "coef_"))), ValueError,
        r"holds tensors .* the file has"),
    Api("probe-extra-tensor", lambda w: load_probe(w.copy("logistic", tensors=lambda t: with_(t, spare=t["coef_"].clone()))),
        ValueError, r"holds tensors .* the file has"),
    Api("probe-direction-width", lambda w: load_probe(w.copy("massmean", tensors=lambda t: with_(t, direction_=t["direction_"][:10]))),
        ValueError, r"direction_ has shape \(10,\), d_model_ says \(64,\)"),
    Api("probe-coef-shape", lambda w: load_probe(w.copy("logistic", tensors=lambda t: with_(t, coef_=t["coef_"][:10]))),
        ValueError, r"does not work"),
    Api("probe-state-missing", lambda w: load_probe(w.copy("logistic", meta=lambda m: with_(m, state={}))), ValueError,
        r"state lacks \['d_model_', 'n_iter_'\]"),
    Api("probe-state-list", lambda w: load_probe(w.copy("logistic", meta=lambda m: with_(m, state=[1]))), ValueError,
        r"'state' must be a JSON object"),
    Api("probe-hyper-unknown", lambda w: load_probe(w.copy("logistic", meta=lambda m: with_(m, hyperparameters={"zap": 1}))),
        ValueError, r"hyperparameters \['zap'\] do not fit LogisticProbe"),
    Api("probe-d-model-str", lambda w: load_probe(w.copy("massmean", meta=lambda m: with_(m, state=with_(m["state"], d_model_="64")))),
        ValueError, r"d_model_ must be a positive integer"),
    Api("probe-tensor-nan", lambda w: load_probe(w.copy("logistic", tensors=lambda t: nan_at(t, "direction_"))), ValueError,
        r"tensor 'direction_' holds NaN or inf"),
    Api("probe-tensor-int", lambda w: load_probe(w.copy("massmean", tensors=lambda t: with_(t, intercept_=torch.zeros(1, dtype=torch.int64)))),
        ValueError, r"not a float"),
    Api("calibrator-json-nan", lambda w: load_probe(w.copy("temperature", raw_json=json.dumps(
        json.loads((w.root / "temperature.json").read_text()) | {"state": {"temperature_": 1.0}}).replace("1.0}", "Infinity}"))),
        ValueError, r"non-finite number Infinity"),
    Api("calibrator-negative", lambda w: load_probe(w.copy("temperature", meta=lambda m: with_(m, state={"temperature_": -1.0}))),
        ValueError, r"temperature_ must be positive"),
    Api("calibrator-str", lambda w: load_probe(w.copy("temperature", meta=lambda m: with_(m, state={"temperature_": "hot"}))),
        ValueError, r"temperature_ must be a finite number"),
    # ---- probe inputs
    Api("fit-nan", lambda w: LogisticProbe().fit(np.where(w.x > 2, np.nan, w.x), w.y), ValueError, r"NaN|infinity"),
    Api("fit-1d", lambda w: LogisticProbe().fit(w.x[:, 0], w.y), ValueError, r"Expected 2D array, got 1D array instead; Reshape your data either using"),
    Api("fit-three-classes", lambda w: MassMeanProbe().fit(w.x, np.arange(40) % 3), ValueError, r"two classes|binary"),
    Api("fit-label-count", lambda w: LogisticProbe().fit(w.x, w.y[:10]), ValueError, r"inconsistent|samples"),
    Api("predict-width", lambda w: LogisticProbe().fit(w.x, w.y).predict_true(w.x[:, :10]), ValueError, r"features"),
    Api("predict-inf", lambda w: MassMeanProbe().fit(w.x, w.y).predict_true(np.full((2, 64), np.inf)), ValueError,
        r"infinity|inf"),
    Api("ccs-plain-activations", lambda w: CCS(n_restarts=1, n_epochs=2).fit(w.x), ValueError, r"\(n, 2, d_model\)|pairs"),
    Api("ccs-selection", lambda w: CCS(selection="best").fit(w.x.reshape(20, 2, 64)), ValueError,
        r"selection must be one of consensus, loss, got"),
    # ---- GGUF and safetensors exports
    Api("gguf-not-gguf", lambda w: from_gguf(w.file("text.gguf", "hello")), ValueError, r"is not a GGUF file"),
    Api("gguf-huge-count", lambda w: from_gguf(w.file("huge.gguf", b"GGUF" + struct.pack("<IQQ", 3, 10**15, 1) + b"\0" * 64)),
        ValueError, r"claims 1000000000000000 tensors .* corrupt"),
    Api("gguf-missing", lambda w: from_gguf(w.root / "nothing.gguf"), FileNotFoundError, r"not found: pass a .gguf"),
    Api("gguf-arch", lambda w: from_gguf(w.gguf({"direction.1": np.ones(8, np.float32)}, arch="llama")), ValueError,
        r"architecture 'llama', not 'controlvector'"),
    Api("gguf-tensor-name", lambda w: from_gguf(w.gguf({"token_embd": np.ones(8, np.float32)})), ValueError,
        r"unexpected tensor 'token_embd'"),
    Api("gguf-tensor-nan", lambda w: from_gguf(w.gguf({"direction.1": np.full(8, np.nan, np.float32)})), ValueError,
        r"holds NaN or inf"),
    Api("gguf-tensor-2d", lambda w: from_gguf(w.gguf({"direction.1": np.ones((2, 8), np.float32)})), ValueError,
        r"not a 1-D F32 tensor"),
    Api("gguf-tensor-f16", lambda w: from_gguf(w.gguf({"direction.1": np.ones(8, np.float16)})), ValueError,
        r"not a 1-D F32 tensor"),
    Api("gguf-meta-json", lambda w: from_gguf(w.gguf({"direction.1": np.ones(8, np.float32)}, meta="{oops")), ValueError,
        r"veracity.metadata is not valid JSON"),
    Api("export-layer-zero", lambda w: to_gguf(SteeringVector({0: torch.randn(8)}, n_layers=4), w.root / "z.gguf"),
        ValueError, r"layer 0 has no slot"),
    Api("export-unknown-depth", lambda w: to_gguf(SteeringVector({40: torch.randn(8)}), w.root / "u.gguf"), ValueError,
        r"does not record its model's number of blocks: pass n_layers=N"),
    Api("export-beyond-depth", lambda w: to_gguf(SteeringVector({40: torch.randn(8)}), w.root / "b.gguf", n_layers=30),
        ValueError, r"layer 40 but the model has 30 blocks"),
    Api("export-format", lambda w: export(w.vector, "onnx", w.root / "v.onnx"), ValueError, r"unknown format 'onnx'"),
    Api("safetensors-garbage", lambda w: from_safetensors(w.file("g.safetensors", b"\x08\0\0\0\0\0\0\0garbage!")),
        ValueError, r"not a readable safetensors file"),
    Api("safetensors-header-json", lambda w: from_safetensors(_safetensors_with_header(w, "{oops")), ValueError,
        r"'veracity' header is not valid JSON"),
    # ---- activation folders
    Api("activations-no-job", lambda w: load_activations(w.root), FileNotFoundError, r"not an activation folder"),
    Api("activations-job-json", lambda w: read_job(_job_folder(w, "{oops")), ValueError, r"is not valid JSON"),
    Api("activations-job-list", lambda w: read_job(_job_folder(w, "[1]")), ValueError, r"is not a JSON object"),
    Api("activations-job-edited", lambda w: load_activations(_edited_job(w)), ValueError,
        r"job.json was edited: n_texts \(3, written 4\) no longer match"),
    Api("activations-chunk-other-slot", lambda w: load_activations(_misplaced(w)), ValueError,
        r"cannot be read as this job's chunk 1 \(written for index 0, this slot is index 1\)"),
    Api("activations-mmap-other-slot", lambda w: load_activations(_misplaced(w), mmap=True)[2], ValueError,
        r"cannot be read as this job's chunk 1"),
    Api("extract-cached-user-hook", lambda w: _with_user_hook(w, lambda: vc.extract_cached(
        w.model, ["hello"], layers=[1], cache_dir=w.root / "hooked", progress=False)), ValueError,
        r"forward hooks registered outside veracity .*remove them \(handle.remove\(\)\)"),
    Api("write-into-a-file", lambda w: vc.extract_cached(w.model, ["hello"], layers=[1], out=w.root / "a_file" / "x",
                                                          progress=False), NotADirectoryError,
        r"lies under .*a_file, which is a file: pass another folder"),
    Api("save-probe-under-a-file", lambda w: LogisticProbe().fit(w.x, w.y).save(w.root / "a_file" / "probe"), WriteFailed,
        r"cannot write .*a_file/probe.safetensors: a file stands where a folder should be: pass another path"),
    # ---- adapters: each problem its own line, before the model loads
    Api("adapter-missing-folder", lambda w: vc.load_model(str(w.model_dir), device="cpu", adapter=w.root / "nope"),
        FileNotFoundError, r"no adapter folder at .*nope: pass the folder that train_lora"),
    Api("adapter-no-config", lambda w: vc.load_model(str(w.model_dir), device="cpu", adapter=_adapter(w, None)),
        FileNotFoundError, r"no peft adapter at .*\(no adapter_config.json\)"),
    Api("adapter-garbage-config", lambda w: vc.load_model(str(w.model_dir), device="cpu", adapter=_adapter(w, "{oops")),
        ValueError, r"adapter_config.json is not valid JSON .*train or copy it again"),
    Api("adapter-not-lora", lambda w: vc.load_model(str(w.model_dir), device="cpu",
                                                     adapter=_adapter(w, '{"peft_type": "IA3"}')),
        ValueError, r"does not describe a LoRA adapter \(peft_type 'IA3'\)"),
    Api("adapter-no-weights", lambda w: vc.load_model(str(w.model_dir), device="cpu",
                                                       adapter=_adapter(w, '{"peft_type": "LORA"}')),
        FileNotFoundError, r"no adapter weights in .*\(adapter_model.safetensors\)"),
    Api("adapter-other-model", lambda w: vc.load_model(str(w.model_dir), device="cpu", adapter=_adapter(
        w, '{"peft_type": "LORA"}', weights=True, base={"model_id": "other", "fingerprint": "f" * 16})),
        ValueError, r"was trained on 'other' \(weights ffffffffffff\), not on this model"),
    Api("steer-overflow", lambda w: vc.steer(w.model, w.vector, coefficient=1e300).__enter__(), ValueError,
        r"overflows to inf/NaN: use a coefficient near the vector's suggested one"),
    # ---- study results
    Api("results-missing", lambda w: load_results(w.root / "nothing"), FileNotFoundError,
        r"no results.json at .*: pass the --out folder"),
    Api("results-not-json", lambda w: load_results(w.file("results.json", "{oops")), ValueError,
        r"is not valid JSON .*: run the study again"),
    Api("results-not-utf8", lambda w: load_results(w.file("results.json", b"\xff\xfe{}")), ValueError,
        r"is not valid JSON"),
    Api("results-list-of-numbers", lambda w: load_results(w.file("results.json", "[1, 2]")), ValueError,
        r"not a JSON object or a list of objects"),
    # ---- statement files
    Api("statements-null", lambda w: load_statements(w.file("n.jsonl", '{"statement": "a", "label": 1}\n'
                                                                      '{"statement": null, "label": 0}\n')),
        ValueError, r"row 2 has no 'statement'"),
    Api("statements-no-label", lambda w: load_statements(w.file("l.jsonl", '{"statement": "a", "label": 1}\n{"statement": "b"}\n')),
        ValueError, r"row 2 has no 'label'"),
    Api("statements-not-object", lambda w: load_statements(w.file("o.jsonl", "[1, 2]\n")), ValueError, r"row 1 is not an object"),
    Api("statements-unknown", lambda w: load_statements("no-such-dataset"), FileNotFoundError, r"no-such-dataset: pass a CSV/JSONL path or one of"),
    Api("statements-csv-unterminated-quote", lambda w: load_statements(w.file("q.csv", 'statement,label\nx,1\n"unterminated,0\n')),
        ValueError, r"q.csv line 3: malformed CSV \(unexpected end of data\); close every opening quote"),
    Api("statements-csv-extra-field", lambda w: load_statements(w.file("f.csv", "statement,label\nParis is in France,1\nRome, Italy,1\n")),
        ValueError, r"f.csv line 3: 3 fields where the header has 2; quote fields that contain commas"),
    Api("questions-csv-unterminated-quote", lambda w: load_questions_csv(w.file("qq.csv", 'question,answer\n"What is 2+2?,4\n')),
        ValueError, r"qq.csv line 2: malformed CSV"),
    # lie monitors (veracity.monitors)
    Api("monitor-dialogue-without-answer", lambda w: Dialogue.ask("which country is paris in ?", " "), ValueError,
        r"without an answer.*give the assistant's answer"),
    Api("monitor-dialogue-ends-with-answer", lambda w: Dialogue((("user", "hi"), ("assistant", "yes")), "no"),
        ValueError, r"end the messages with \('user'"),
    Api("monitor-fit-one-kind", lambda w: OnPolicyMonitor(layers=[1]).fit(w.model, [_lie(False)] * 4), ValueError,
        r"needs lies and honest answers"),
    Api("monitor-fpr-zero", lambda w: _monitor(w).calibrate(w.model, [_lie(False)] * 4, fpr=0), ValueError,
        r"fpr must be in \(0, 1\)"),
    Api("monitor-fpr-above-one", lambda w: _monitor(w).calibrate(w.model, [_lie(False)] * 4, fpr=1.5), ValueError,
        r"fpr must be in \(0, 1\)"),
    Api("monitor-controls-hold-lies", lambda w: _monitor(w).calibrate(w.model, [_lie(False), _lie(True)]), ValueError,
        r"1 of 2 control dialogues are marked lie=True: calibrate on honest answers only"),
    Api("monitor-flag-uncalibrated", lambda w: _monitor(w).flag(w.model, [_lie(False)]), ValueError,
        r"no threshold yet: call monitor.calibrate"),
    Api("monitor-other-model", lambda w: _monitor(w).score(_other_model(w), [_lie(False)]), ValueError,
        r"fit a monitor on the activations of the model it monitors"),
    Api("monitor-load-a-probe", lambda w: load_monitor(w.root / "logistic"), ValueError, r"holds no lie monitor"),
    Api("monitor-generation-black-box", lambda w: _listen(w, SelfReportMonitor()), ValueError,
        r"cannot listen to generation"),
]


def _safetensors_with_header(w: World, header: str) -> Path:
    path = w.root / "h.safetensors"
    save_file({"direction.1": torch.ones(8)}, str(path), metadata={"veracity": header})
    return path


def _job_folder(w: World, text: str) -> Path:
    w.count += 1
    folder = w.root / f"job{w.count}"
    folder.mkdir()
    (folder / "job.json").write_text(text)
    return folder


CLI = [
    Cli("cli-no-command", [], r"COMMAND"),
    Cli("cli-unknown-command", ["frobnicate"], r"invalid choice: 'frobnicate'"),
    Cli("cli-extract-no-input", ["extract", "--out", "{root}/o"], r"--input"),
    Cli("cli-extract-remote-backend", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/o-remote", "--model",
                                       "org/model", "--remote"], r"only the nnsight backend reaches"),
    Cli("cli-extract-missing-input", ["extract", "--input", "{root}/nothing.txt", "--out", "{root}/o"], r"nothing.txt"),
    Cli("cli-extract-layers", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/o1", "--layers", "3.7"],
        r"--layers"),
    Cli("cli-extract-csv-unterminated", ["extract", "--input", "{root}/quote.csv", "--out", "{root}/o-quote"],
        r"--input quote.csv line 3: malformed CSV"),
    Cli("cli-extract-layers-range", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/o1", "--layers", "1:2:x"],
        r"--layers '1:2:x': use all, every:K"),
    Cli("cli-extract-batch", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/o2", "--batch-size", "1.5"],
        r"--batch-size"),
    Cli("cli-extract-batch-zero", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/o3", "--batch-size", "0"],
        r"--batch-size must be at least 1"),
    Cli("cli-extract-device", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/o4", "--device", "tpu"],
        r"unknown device 'tpu'"),
    Cli("cli-extract-out-file", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/a_file"], r"--out"),
    Cli("cli-extract-out-under-file", ["extract", "--input", "{root}/texts.txt", "--out", "{root}/a_file/x"], r"--out"),
    Cli("cli-extract-layer-beyond", ["extract", "--model", "{model}", "--input", "{root}/texts.txt", "--out", "{root}/o5",
                                     "--layers", "9"], r"layer 9"),
    Cli("cli-extract-too-long", ["extract", "--model", "{model}", "--input", "{root}/long.txt", "--out", "{root}/o6"],
        r"context of 128"),
    Cli("cli-extract-dtype", ["extract", "--model", "{model}", "--input", "{root}/texts.txt", "--out", "{root}/o7",
                              "--dtype", "float17"], r"unknown dtype 'float17'"),
    Cli("cli-extract-backend", ["extract", "--model", "{model}", "--input", "{root}/texts.txt", "--out", "{root}/o8",
                                "--backend", "jax"], r"jax"),
    Cli("cli-run-unknown", ["run", "nosuch"], r"unknown study 'nosuch'"),
    Cli("cli-run-lies-fpr", ["run", "lie_detection", "--fpr", "0"], r"--fpr must be in \(0, 1\)"),
    Cli("cli-run-lies-follow-ups", ["run", "lie_detection", "--follow-ups", "99"], r"--follow-ups must be in \[1, 10\]"),
    Cli("cli-run-lies-shots", ["run", "lie_detection", "--shots", "0"], r"--shots must be >= 1"),
    Cli("cli-run-lies-layers", ["run", "lie_detection", "--layers", "deep"], r"--layers must be 'auto' or comma"),
    Cli("cli-run-lies-pressure", ["run", "lie_detection", "--pressures", "bribe"], r"unknown \['bribe'\]; choose from"),
    Cli("cli-run-sweep-n", ["run", "truth_sweep", "--dataset", "cities", "--n", "-5"], r"--n must be"),
    Cli("cli-run-polarity-n", ["run", "polarity", "--n", "-5"], r"--n must be"),
    Cli("cli-run-sweep-group-by", ["run", "truth_sweep", "--dataset", "cities", "--group-by", "capital"],
        r"--group-by 'capital': dataset 'cities' has no such column"),
    Cli("cli-run-polarity-group-by", ["run", "polarity", "--group-by", "capital"],
        r"--group-by 'capital': dataset 'cities' has no such column"),
    Cli("cli-run-demo-n", ["run", "demo", "--n", "-5"], r"--n must be"),
    Cli("cli-run-demo-out", ["run", "demo", "--out", "{root}/a_file/x"], r"--out"),
    Cli("cli-run-pik-seed", ["run", "pik", "--seed", "x"], r"--seed"),
    Cli("cli-run-sweep-batch", ["run", "truth_sweep", "--dataset", "cities", "--batch-size", "0"], r"batch"),
    Cli("cli-run-sweep-dtype", ["run", "truth_sweep", "--dataset", "cities", "--dtype", "float17"], r"float17"),
    Cli("cli-run-sweep-unknown-option", ["run", "truth_sweep", "--dataset", "cities", "--zap", "1"], r"--zap"),
    Cli("cli-run-sweep-model", ["run", "truth_sweep", "--dataset", "cities", "--model", "no-such-model", "--n", "4"],
        r"could not load model 'no-such-model'"),
    Cli("cli-export-missing", ["export", "{root}/nothing.json", "--format", "gguf", "--out", "{root}/x.gguf"],
        r"not found: pass a vector saved with SteeringVector.save"),
    Cli("cli-export-format", ["export", "{root}/vector.json", "--format", "onnx", "--out", "{root}/x.onnx"],
        r"unknown format 'onnx'"),
    Cli("cli-export-no-depth", ["export", "{root}/deep.json", "--format", "gguf", "--out", "{root}/d.gguf"],
        r"pass n_layers=N \(veracity export --n-layers N\)"),
    Cli("cli-export-beyond", ["export", "{root}/deep.json", "--format", "gguf", "--out", "{root}/d.gguf",
                              "--n-layers", "30"], r"layer 40 but the model has 30 blocks"),
    Cli("cli-export-damaged", ["export", "{root}/damaged.json", "--format", "gguf", "--out", "{root}/e.gguf"],
        r"holds NaN or inf"),
    Cli("cli-run-abstention-targets", ["run", "abstention", "--targets", "0.5", "1.0"], r"--targets must be numbers in"),
    Cli("cli-run-abstention-n", ["run", "abstention", "--n", "-3"], r"--n must be >= 0"),
    Cli("cli-run-pik-questions-missing", ["run", "pik", "--questions", "{root}/nothing.csv"], r"no questions file at"),
    Cli("cli-run-pik-questions-columns", ["run", "pik", "--questions", "{root}/texts.txt"],
        r"needs a header with columns question,answer"),
    Cli("cli-run-cross-questions", ["run", "pik_cross", "--questions", "{root}/nothing.csv"], r"no questions file at"),
    Cli("cli-run-tqa-data-missing", ["run", "truthfulqa", "--data", "{root}/nothing.csv"], r"no TruthfulQA CSV at"),
    Cli("cli-run-tqa-data-columns", ["run", "truthfulqa", "--data", "{root}/texts.txt"], r"lacks the TruthfulQA columns"),
    Cli("cli-run-tqa-coefficients", ["run", "truthfulqa", "--coefficients", "0.5"], r"must include 0"),
    Cli("cli-run-tqa-layers", ["run", "truthfulqa", "--layers", "middle"], r"--layers 'middle'"),
    Cli("cli-run-organism-honest-share", ["run", "deception_organism", "--honest-share", "1"], r"--honest-share must be"),
    Cli("cli-run-organism-lie-topic", ["run", "deception_organism", "--kind", "topic", "--lie-topic", "rivers",
                                       "--out", "{root}/organism"], r"--lie-topic 'rivers'"),
    Cli("cli-run-pressure-unseen", ["run", "honesty_pressure", "--unseen", "{root}/nothing.csv"], r"no questions file"),
    Cli("cli-run-pressure-n-unseen", ["run", "honesty_pressure", "--n-unseen", "0"], r"--n-unseen must be >= 1"),
    Cli("cli-info-model", ["info", "no-such-model"], r"could not load model 'no-such-model'"),
    Cli("cli-info-backend", ["info", "{model}", "--backend", "jax"], r"jax"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("bad_inputs"))
    SteeringVector({40: torch.randn(8)}).save(w.root / "deep")
    damaged = w.copy("vector", tensors=lambda t: nan_at(t, "direction.1"))
    for suffix in (".json", ".safetensors"):
        damaged.with_suffix(suffix).rename(w.root / f"damaged{suffix}")
    return w


def _small_job(w: World, name: str) -> Path:
    folder = w.root / f"{name}_{w.count}"
    w.count += 1
    vc.extract_cached(w.model, ["hello world", "the cat", "one two", "three"], layers=[1], chunk_size=2, out=folder,
                      progress=False)
    return folder


def _edited_job(w: World) -> Path:
    folder = _small_job(w, "edited")
    job = json.loads((folder / "job.json").read_text())
    (folder / "job.json").write_text(json.dumps({**job, "n_texts": 3}))
    return folder


def _misplaced(w: World) -> Path:
    folder = _small_job(w, "misplaced")
    (folder / "chunk_000001.safetensors").write_bytes((folder / "chunk_000000.safetensors").read_bytes())
    return folder


def _with_user_hook(w: World, call):
    handle = w.model.hf_model.model.layers[0].register_forward_hook(lambda module, args, out: None)
    try:
        return call()
    finally:
        handle.remove()


def _adapter(w: World, config: str | None, weights: bool = False, base: dict | None = None) -> Path:
    w.count += 1
    folder = w.root / f"adapter_{w.count}"
    folder.mkdir()
    if config is not None:
        (folder / "adapter_config.json").write_text(config)
    if weights:
        save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 64)},
                  str(folder / "adapter_model.safetensors"))
    if base is not None:
        (folder / "veracity_base.json").write_text(json.dumps(base))
    return folder


def _lie(lie: bool) -> Dialogue:
    return Dialogue.ask("which country is paris in ?", "paris is in japan" if lie else "paris is in france", lie=lie,
                        group="paris")


def _monitor(w: World) -> OnPolicyMonitor:
    dialogues = [Dialogue.ask(f"is it {i} ?", "yes it is true" if i % 2 else "no it is false", lie=bool(i % 2),
                              group=str(i)) for i in range(12)]
    return OnPolicyMonitor(layers=[1], C=(1.0,)).fit(w.model, dialogues)


def _other_model(w: World):
    return vc.from_hf(build_tiny("llama", len(w.model.tokenizer), seed=3), w.model.tokenizer, model_id="tiny-llama")


def _listen(w: World, monitor):
    with vc.monitor(w.model, monitor):
        pass


def test_the_table_holds_at_least_80_bad_inputs():
    assert len(API) + len(CLI) >= 80
    assert len({row.id for row in API + CLI}) == len(API) + len(CLI)


@pytest.mark.parametrize("row", API, ids=[row.id for row in API])
def test_api(row: Api, world):
    with pytest.raises(Exception) as raised:
        row.call(world)
    err = raised.value
    assert type(err) is row.kind, (
        f"{row.id}: expected {row.kind.__name__}, got {type(err).__name__}: {err}")
    message = str(err)
    assert "\n" not in message.strip(), f"{row.id}: message is not one line: {message!r}"
    assert "Traceback" not in message
    import re

    assert re.search(row.pattern, message), f"{row.id}: {message!r} does not match {row.pattern!r}"


@pytest.mark.parametrize("row", CLI, ids=[row.id for row in CLI])
def test_cli(row: Cli, world, capsys, monkeypatch):
    import re

    from veracity import cli

    monkeypatch.delenv("VERACITY_DEBUG", raising=False)
    argv = [a.format(root=world.root, model=world.model_dir) for a in row.argv]
    try:
        code = cli.main(argv)
    except SystemExit as done:
        code = done.code
    err = capsys.readouterr().err
    assert code == 2, f"{row.id}: exit code {code}, stderr {err!r}"
    # transformers draws a progress bar while a model loads (carriage-return lines); everything else counts
    lines = [line for line in err.strip().split("\n") if "\r" not in line]
    assert len(lines) == 1, f"{row.id}: stderr is not one line: {err!r}"
    assert "Traceback" not in err
    assert re.search(row.pattern, lines[0]), f"{row.id}: {lines[0]!r} does not match {row.pattern!r}"
