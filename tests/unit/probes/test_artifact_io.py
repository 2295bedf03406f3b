"""save_artifact / load_artifact: two files, atomic writes, clear errors, no pickle."""

import json
from importlib import metadata

import pytest
import torch

from veracity.probes.io import FORMAT_VERSION, artifact_paths, load_artifact, save_artifact


def test_round_trip_tensors_and_meta(tmp_path):
    tensors = {"direction": torch.randn(8), "scale": torch.tensor(2.0, dtype=torch.float64)}
    written = save_artifact(tmp_path / "sub" / "vec", tensors, {"layer": 3, "site": "resid_post"})
    assert [p.name for p in written] == ["vec.safetensors", "vec.json"]
    loaded, meta = load_artifact(tmp_path / "sub" / "vec.json")
    assert set(loaded) == set(tensors)
    for name, value in tensors.items():
        torch.testing.assert_close(loaded[name], value)
    assert meta["layer"] == 3 and meta["format_version"] == FORMAT_VERSION
    assert meta["veracity_version"] == metadata.version("veracity")


def test_suffixes_are_stripped():
    assert artifact_paths("a/b.safetensors") == artifact_paths("a/b.json") == artifact_paths("a/b")


def test_overwrite_leaves_no_temporary_files(tmp_path):
    save_artifact(tmp_path / "v", {"x": torch.zeros(2)}, {"run": 1})
    save_artifact(tmp_path / "v", {"x": torch.ones(2)}, {"run": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json", "v.safetensors"]
    tensors, meta = load_artifact(tmp_path / "v")
    torch.testing.assert_close(tensors["x"], torch.ones(2))
    assert meta["run"] == 2


def test_unserialisable_meta_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        save_artifact(tmp_path / "v", {"x": torch.zeros(2)}, {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_missing_file_and_newer_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_artifact(tmp_path / "absent")
    save_artifact(tmp_path / "v", {"x": torch.zeros(2)}, {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(ValueError, match="upgrade veracity"):
        load_artifact(tmp_path / "v")


def test_json_is_plain_text(tmp_path):
    _, json_path = save_artifact(tmp_path / "v", {"x": torch.zeros(2)}, {"note": "hi"})
    assert json.loads(json_path.read_text())["note"] == "hi"
