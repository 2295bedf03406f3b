"""GGUF control vectors (exact round trip through gguf's reader), single-file safetensors, the CLI."""

import shutil
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from veracity.cli import main
from veracity.steering import SteeringVector, export, from_gguf, from_safetensors, to_gguf, to_safetensors


@pytest.fixture
def vector():
    gen = torch.Generator().manual_seed(0)
    return SteeringVector({layer: torch.randn(16, generator=gen) for layer in (1, 5, 6)}, model_id="tiny-llama",
                          n_layers=8, method="pca", normalization="unit", coefficient=4.0,
                          extra={"model_type": "llama", "separation": {"1": 0.9}})


def test_gguf_is_a_llama_cpp_control_vector(vector, tmp_path):
    path = to_gguf(vector, tmp_path / "v.gguf")
    reader = gguf.GGUFReader(str(path))
    assert reader.get_field("general.architecture").contents() == "controlvector"
    assert reader.get_field("controlvector.model_hint").contents() == "llama"
    assert reader.get_field("controlvector.layer_count").contents() == 3
    tensors = {t.name: t for t in reader.tensors}
    assert sorted(tensors) == ["direction.1", "direction.5", "direction.6"]
    for layer in vector.layers:
        data = np.asarray(tensors[f"direction.{layer}"].data)
        assert data.dtype == np.float32 and data.shape == (16,)
        assert np.array_equal(data, vector[layer].numpy())
    assert from_gguf(path) == vector
    assert [p.name for p in tmp_path.iterdir()] == ["v.gguf"], "no temporary files left"


def test_gguf_refuses_layer_zero(vector, tmp_path):
    with_zero = vector + SteeringVector({0: torch.ones(16)})
    with pytest.raises(ValueError, match="layer 0 has no slot in llama.cpp"):
        to_gguf(with_zero, tmp_path / "v.gguf")
    assert not (tmp_path / "v.gguf").exists()


def test_reads_a_repeng_style_file(tmp_path):
    path = tmp_path / "repeng.gguf"
    writer = gguf.GGUFWriter(str(path), "controlvector")
    writer.add_string("controlvector.model_hint", "mistral")
    writer.add_uint32("controlvector.layer_count", 2)
    for layer in (3, 4):
        writer.add_tensor(f"direction.{layer}", np.full(8, layer, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    vector = from_gguf(path)
    assert vector.layers == [3, 4] and vector.model_id == "mistral"
    assert torch.equal(vector[4], torch.full((8,), 4.0))


def test_gguf_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        from_gguf(tmp_path / "none.gguf")
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="not a control vector"):
        from_gguf(path)


def test_single_file_safetensors_round_trip(vector, tmp_path):
    path = to_safetensors(vector, tmp_path / "v.safetensors")
    assert from_safetensors(path) == vector
    with pytest.raises(ValueError, match="unknown format 'onnx'"):
        export(vector, "onnx", tmp_path / "v.onnx")


def test_cli_exports(vector, tmp_path):
    vector.save(tmp_path / "honesty")
    assert main(["export", str(tmp_path / "honesty.json"), "--format", "gguf", "--out", str(tmp_path / "h.gguf")]) == 0
    assert from_gguf(tmp_path / "h.gguf") == vector
    out = tmp_path / "sub" / "h.safetensors"
    assert main(["export", str(tmp_path / "honesty"), "--format", "safetensors", "--out", str(out)]) == 0
    assert from_safetensors(out) == vector


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "onnx"], "unknown format 'onnx': use gguf or safetensors"),
        (["--format", "gguf", "--missing"], "not found: pass a vector saved with SteeringVector.save"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(vector, tmp_path, capsys, args, message):
    vector.save(tmp_path / "v")
    source = str(tmp_path / ("gone.json" if "--missing" in args else "v.json"))
    argv = ["export", source, *[a for a in args if a != "--missing"], "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("veracity export: error: ")


def test_cli_reports_layer_zero(tmp_path, capsys):
    SteeringVector({0: torch.ones(4), 2: torch.ones(4)}).save(tmp_path / "v")
    assert main(["export", str(tmp_path / "v.json"), "--format", "gguf", "--out", str(tmp_path / "v.gguf")]) == 2
    assert "layer 0 has no slot" in capsys.readouterr().err


def test_console_script(vector, tmp_path):
    script = shutil.which("veracity", path=str(Path(sys.executable).parent)) or shutil.which("veracity")
    if script is None:
        pytest.fail("the veracity console script is missing: reinstall with `pip install -e .`")
    vector.save(tmp_path / "v")
    ok = subprocess.run([script, "export", str(tmp_path / "v.json"), "--format", "gguf", "--out",
                         str(tmp_path / "v.gguf")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert from_gguf(tmp_path / "v.gguf") == vector
    bad = subprocess.run([script, "export", str(tmp_path / "v.json"), "--format", "pt", "--out", "x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "veracity export: error: unknown format 'pt': use gguf or safetensors"
