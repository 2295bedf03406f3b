"""The README's quickstart runs as written, on the embedded model (its length: tests/unit/test_readme.py)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_quickstart_runs_as_written(capsys, tmp_path, monkeypatch):
    code = python_block_after("## Quickstart")
    assert len(code.strip().splitlines()) <= 25
    monkeypatch.chdir(tmp_path)  # the quickstart saves its vector under ./artifacts
    scope: dict = {}
    exec(compile(code, "README quickstart", "exec"), scope)
    out = capsys.readouterr().out
    accuracy = float(re.search(r"held-out accuracy at layer 16: ([0-9.]+)", out).group(1))
    assert 0.8 < accuracy <= 1.0
    assert scope["p_true"].shape == (240,)
    assert 0 < float(re.search(r"suggested coefficient: ([0-9.e-]+)", out).group(1))
    assert scope["steered"].shape == (1, 1, 576)
    assert (tmp_path / "artifacts" / "honesty.json").is_file()
