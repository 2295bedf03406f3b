"""The setup's bytecode compiler (.ci/bytecode.py): what it compiles and what it leaves to the first import."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "bytecode.py"


@pytest.fixture(scope="module")
def bytecode():
    spec = importlib.util.spec_from_file_location("ci_bytecode", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(root: Path, relative: str, text: str = "x = 1\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_it_compiles_every_module_but_tests_and_model_families_never_loaded(bytecode, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "pycache_prefix", None)
    kept = [write(tmp_path, p) for p in ("pkg/a.py", "pkg/sub/b.py", "transformers/models/llama/modeling_llama.py",
                                         "transformers/models/gemma3/modeling_gemma3.py", "transformers/models/__init__.py",
                                         "pkg/testing.py")]
    skipped = [write(tmp_path, p) for p in ("pkg/tests/test_a.py", "pkg/test/helper.py",
                                            "transformers/models/bert/modeling_bert.py")]
    broken = write(tmp_path, "pkg/broken.py", "def (:\n")
    found = bytecode.sources([str(tmp_path)])
    assert sorted(found) == sorted(str(p) for p in [*kept, broken])
    assert bytecode.compile_files(found) == 1  # the broken file, skipped as pip skips it
    compiled = set(tmp_path.rglob("*.pyc"))
    assert {p.parent.parent for p in compiled} == {p.parent for p in kept}
    assert len(compiled) == len(kept)
    assert not any((p.parent / "__pycache__").exists() for p in skipped)
    # up to date: compiled again, nothing is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in compiled}
    assert bytecode.compile_files([f for f in found if f != str(broken)]) == 0
    assert {p: p.stat().st_mtime_ns for p in compiled} == stamps
