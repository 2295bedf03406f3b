"""TruthfulQA (Lin, Hilton & Evans, 2021): questions some humans answer falsely, with true and false answers.

:func:`load_truthfulqa` reads the authors' CSV (``Type, Category, Question, Best Answer, Correct
Answers, Incorrect Answers, Source``; the answer lists are ``"; "``-separated), from a path or, with
no path, downloaded once from the authors' repository into ``<veracity_home>/datasets`` (that needs
the internet; offline, pass the CSV). It gives, per question:

- MC1: the best answer against the incorrect answers (one true choice; chance is 1 / choices),
- MC2: every correct answer against every incorrect one (a probability mass to put on the true set),
- answer statements ``question + answer`` with a true/false label, grouped by question, so a split
  by :meth:`TruthfulQA.groups` never puts one question's answers on both sides.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from veracity.atomic import atomic_write_bytes
from veracity.data.csvfile import read_csv_rows
from veracity.home import veracity_home

__all__ = ["TRUTHFULQA_URL", "TruthfulQA", "TruthfulQAItem", "load_truthfulqa"]

TRUTHFULQA_URL = "https://raw.githubusercontent.com/sylinrl/TruthfulQA/main/TruthfulQA.csv"
"""The authors' CSV (Apache-2.0)."""

logger = logging.getLogger(__name__)

COLUMNS = ("Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers")


@dataclass(frozen=True)
class TruthfulQAItem:
    """One TruthfulQA question with its answers."""

    question: str
    category: str
    kind: str  # "Adversarial" or "Non-Adversarial"
    best: str
    correct: tuple[str, ...]  # includes ``best``; no duplicates
    incorrect: tuple[str, ...]

    def mc1(self) -> tuple[list[str], int]:
        """MC1 choices (the best answer first, then the incorrect ones) and the index of the true one (0)."""
        return [self.best, *self.incorrect], 0

    def mc2(self) -> tuple[list[str], list[int]]:
        """MC2 choices (every correct answer, then every incorrect one) and their 1/0 labels."""
        return [*self.correct, *self.incorrect], [1] * len(self.correct) + [0] * len(self.incorrect)


@dataclass(frozen=True)
class TruthfulQA:
    """The questions, in file order."""

    items: tuple[TruthfulQAItem, ...]
    source: str

    def __len__(self) -> int:
        return len(self.items)

    @property
    def categories(self) -> list[str]:
        """Every category, sorted."""
        return sorted({item.category for item in self.items})

    def statements(self, template: str = "Q: {question}\nA: {answer}") -> tuple[list[str], list[int], list[int]]:
        """Every (question, answer) as text with its label (1 = a correct answer) and its question's index.

        Returns:
            ``(texts, labels, groups)``: split with a group splitter on ``groups`` (one group per question).
        """
        texts, labels, groups = [], [], []
        for index, item in enumerate(self.items):
            choices, truth = item.mc2()
            for answer, label in zip(choices, truth):
                texts.append(template.format(question=item.question, answer=answer))
                labels.append(label)
                groups.append(index)
        return texts, labels, groups

    def groups(self) -> list[int]:
        """One group per question (its index), for :meth:`statements` rows."""
        return self.statements()[2]


def _answers(text: str) -> tuple[str, ...]:
    seen = dict.fromkeys(part.strip() for part in text.split(";") if part.strip())
    return tuple(seen)


def _parse(text: str, source: str) -> TruthfulQA:
    header, rows = read_csv_rows(source, text)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{source} lacks the TruthfulQA columns {missing}: pass the authors' TruthfulQA.csv")
    items = []
    for row_number, row in enumerate(rows, start=2):
        best, incorrect = (row["Best Answer"] or "").strip(), _answers(row["Incorrect Answers"] or "")
        question = (row["Question"] or "").strip()
        if not question or not best or not incorrect:
            raise ValueError(f"{source} row {row_number} has no question, best answer or incorrect answers: "
                             "the file is damaged; pass the authors' TruthfulQA.csv")
        correct = _answers(row["Correct Answers"] or "")
        correct = correct if best in correct else (best, *correct)
        items.append(TruthfulQAItem(question=question, category=(row["Category"] or "").strip(),
                                    kind=(row["Type"] or "").strip(), best=best, correct=correct,
                                    incorrect=incorrect))
    if not items:
        raise ValueError(f"{source} holds no questions: pass the authors' TruthfulQA.csv")
    return TruthfulQA(items=tuple(items), source=source)


def load_truthfulqa(path: str | os.PathLike | None = None) -> TruthfulQA:
    """TruthfulQA from the authors' CSV at ``path`` or, with no path, downloaded once (needs the internet).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError: No path was given and the download failed (offline): pass the CSV's path.
        ValueError: The file is not TruthfulQA's CSV (missing columns, empty rows).

    Example:
        >>> tqa = load_truthfulqa("../shared/datasets/truthfulqa/TruthfulQA.csv")
        >>> choices, true_index = tqa.items[0].mc1()
    """
    if path is None:
        path = veracity_home() / "datasets" / "TruthfulQA.csv"
        if not path.is_file():
            try:
                with urllib.request.urlopen(TRUTHFULQA_URL, timeout=30) as response:
                    data = response.read()
            except OSError as err:
                raise OSError(f"could not download TruthfulQA from {TRUTHFULQA_URL} ({err}): pass the path of "
                              "TruthfulQA.csv, load_truthfulqa(PATH)") from None
            atomic_write_bytes(path, data)
            logger.info("downloaded TruthfulQA (sha256 %s) to %s", hashlib.sha256(data).hexdigest(), path)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TruthfulQA CSV at {path}: pass the path of the authors' TruthfulQA.csv")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err}): pass the authors' TruthfulQA.csv") from None
    return _parse(text, str(path))
