"""``StatementDataset`` and the loader for ``statement,label`` CSV / JSONL files or built-in names."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from veracity.data.csvfile import read_csv_rows

TRUE_WORDS = {"1": 1, "true": 1, "yes": 1, "0": 0, "false": 0, "no": 0}

ENTITY_COLUMNS = ("group", "entity", "question", "city", "n1")
"""Columns that name what a statement is about, in the order ``groups("auto")`` looks for them."""


@dataclass
class StatementDataset:
    """True/false statements.

    Attributes:
        statements: The sentences.
        labels: 1 = true, 0 = false; same length as ``statements``.
        name: Where it came from (a built-in name or a file stem).
        extra: Other columns, by name (e.g. ``country`` for cities).
    """

    statements: list[str]
    labels: np.ndarray
    name: str = "statements"
    extra: dict[str, list] = field(default_factory=dict)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.statements) == 0:
            raise ValueError(f"dataset {self.name!r} is empty: it needs at least one statement")
        if len(self.statements) != len(self.labels):
            raise ValueError(f"dataset {self.name!r}: {len(self.statements)} statements but {len(self.labels)} labels")
        if not np.isin(self.labels, [0, 1]).all():
            raise ValueError(f"dataset {self.name!r}: labels must be 0 or 1")

    def __len__(self) -> int:
        return len(self.statements)

    def subset(self, indices) -> StatementDataset:
        """The rows at ``indices`` (extra columns follow)."""
        idx = [int(i) for i in indices]
        extra = {k: [v[i] for i in idx] for k, v in self.extra.items()}
        return StatementDataset([self.statements[i] for i in idx], self.labels[idx], self.name, extra)

    def groups(self, by: str = "auto") -> np.ndarray:
        """The entity each row is about, one id per row, for splits that keep an entity on one side.

        Args:
            by: A column of ``extra`` (e.g. ``"city"``, ``"correct_country"``); ``"auto"``: the first
                of :data:`ENTITY_COLUMNS` the dataset has (``city`` for the cities sets, ``n1`` for
                larger_than), else every row its own group; ``"row"``: every row its own group.

        Returns:
            ``(n,)`` strings ``"column:value"`` (or ``"row:i"``), so two datasets' ids agree exactly
            when they name the same entity in the same column.

        Raises:
            ValueError: ``by`` is not a column of this dataset.

        Example:
            >>> ids = load_statements("cities").groups()  # "city:<name>": a city's true and false statement share it
        """
        if by == "auto":
            by = next((column for column in ENTITY_COLUMNS if column in self.extra), "row")
        if by == "row":
            return np.array([f"row:{i}" for i in range(len(self))])
        if by not in self.extra:
            raise ValueError(f"--group-by {by!r}: dataset {self.name!r} has no such column; use auto, row or one of "
                             f"{', '.join(self.extra) or '(no extra columns)'}")
        return np.array([f"{by}:{value}" for value in self.extra[by]])

    def group_column(self, by: str = "auto") -> str:
        """The column :meth:`groups` reads for ``by`` (``"row"`` when each row is its own group)."""
        return next((c for c in ENTITY_COLUMNS if c in self.extra), "row") if by == "auto" else by

    def sample(self, n: int, seed: int = 0) -> StatementDataset:
        """A seeded random subset of ``n`` rows (all rows when ``n >= len``)."""
        if n >= len(self):
            return self
        return self.subset(np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False)))


def _parse_label(value, where: str) -> int:
    key = str(value).strip().lower()
    if key in TRUE_WORDS:
        return TRUE_WORDS[key]
    raise ValueError(f"{where}: label {value!r} is not binary; use 1/0 (or true/false)")


def _rows_from_csv(path: Path) -> list[dict]:
    return read_csv_rows(path)[1]


def _rows_from_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path.name} line {number}: not valid JSON ({err.msg})") from None
    return rows


def load_file(path: str | Path) -> StatementDataset:
    """Read a ``statement,label`` CSV or JSONL file (other columns are kept in ``extra``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset file at {path}: pass a CSV/JSONL path or one of {sorted(BUILTIN_DATASETS)}")
    rows = _rows_from_jsonl(path) if path.suffix in (".jsonl", ".json") else _rows_from_csv(path)
    if not rows:
        raise ValueError(f"{path.name} has no rows: a dataset needs statement,label rows")
    if not isinstance(rows[0], dict):
        raise ValueError(f"{path.name} row 1 is not an object with statement and label")
    for column in ("statement", "label"):
        if column not in rows[0]:
            raise ValueError(f"{path.name} has no {column!r} column (columns: {', '.join(rows[0])}); a dataset needs statement,label")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path.name} row {i + 1} is not an object with statement and label")
        missing = [c for c in ("statement", "label") if c not in row or row[c] is None]
        if missing:
            raise ValueError(f"{path.name} row {i + 1} has no {missing[0]!r}: every row needs a statement and a label")
        if not isinstance(row["statement"], str) or not row["statement"].strip():
            raise ValueError(f"{path.name} row {i + 1}: the statement must be non-empty text, got {row['statement']!r}")
    labels = [_parse_label(r["label"], f"{path.name} row {i + 1}") for i, r in enumerate(rows)]
    extra = {k: [r.get(k) for r in rows] for k in rows[0] if k not in ("statement", "label")}
    return StatementDataset([r["statement"] for r in rows], labels, path.stem, extra)


def load_statements(path_or_name: str | Path) -> StatementDataset:
    """A built-in dataset by name, or a ``statement,label`` CSV / JSONL file.

    Args:
        path_or_name: e.g. ``"cities"``, ``"neg_cities"``, or ``"data/my_facts.csv"``.

    Returns:
        A :class:`StatementDataset`.

    Example:
        >>> ds = load_statements("cities")
        >>> ds.statements[0], ds.labels[0]
    """
    if str(path_or_name) in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[str(path_or_name)]()
    return load_file(path_or_name)


BUILTIN_DATASETS: dict[str, Callable[[], StatementDataset]] = {}


def register_dataset(name: str):
    """Decorator: add a zero-argument dataset builder to :data:`BUILTIN_DATASETS`."""

    def wrap(builder):
        BUILTIN_DATASETS[name] = builder
        return builder

    return wrap
