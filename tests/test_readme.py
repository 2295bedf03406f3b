"""The README's quickstart runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_quickstart_runs_as_written(capsys):
    code = python_block_after("## Quickstart")
    assert len(code.strip().splitlines()) <= 10
    exec(compile(code, "README quickstart", "exec"), {})
    accuracy = float(capsys.readouterr().out.rsplit(":", 1)[1])
    assert 0.5 < accuracy <= 1.0
