"""The one atomic writer: whole files or nothing, and no other writer in the package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from veracity.atomic import atomic_write, atomic_write_text

ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = atomic_write_text(tmp_path / "a" / "results.json", "old")
    assert target.read_text() == "old" and oct(target.stat().st_mode & 0o777) == "0o644"

    def half_then_fail(tmp: Path):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_no_module_renames_files_itself():
    """Every artifact goes through veracity.atomic (the embedded model's folder conversion renames a folder)."""
    pattern = re.compile(r"os\.replace\(|mkstemp\(|\.replace\(path\)|\.rename\(")
    offenders = []
    for folder in ("hooks", "probes", "steering", "experiments", "data"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "embedded.py" and pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
