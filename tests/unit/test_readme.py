"""The README stays a ten-minute read (the quickstart itself runs in tests/acceptance/test_readme_acceptance.py)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_is_a_ten_minute_read():
    assert len(README.read_text().splitlines()) <= 300
