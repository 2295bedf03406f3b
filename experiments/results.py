"""What every study returns and writes as ``results.json``: one type, :class:`Results`.

``results.json`` is one JSON object: ``study`` (its name), ``model`` (id, layers, width),
``config`` (every option), ``headline`` (a flat dict of figure name -> ``{"value": x, "ci": [lo,
hi]}`` with percentile bootstrap 95% intervals, by whole question where rows share one), ``tables``
(table name -> a list of rows, each a flat dict), ``report`` (the report's file name inside the
output folder) and the study's own details beside them.

Headline entries come from :mod:`veracity.probes.evaluation` (``mean_estimate``, ``auroc_estimate``).

Example:
    >>> headline = {"mc1": mean_estimate(mc1_per_question, seed=0)}
    >>> results = study_results("truthfulqa", model, config, headline, tables={"by_category": rows})
    >>> results.write(out)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from veracity.atomic import atomic_write_text

__all__ = ["Results", "study_results"]

_FIELDS = ("study", "model", "config", "headline", "tables", "report")


@dataclass
class Results(Mapping):
    """The results of one study run: what ``run(config)`` returns and ``results.json`` holds.

    It reads like the JSON it writes (``results["headline"]``, ``results["layer"]``): a read-only
    mapping over :meth:`to_json`.

    Attributes:
        study: The study's name (``veracity run NAME``).
        model: ``{"id", "n_layers", "d_model"}`` of the model studied.
        config: Every option of the run.
        headline: Figure name -> ``{"value", "ci"}`` (95% bootstrap interval; ``ci`` is ``null``
            where none applies).
        tables: Table name -> rows (flat dicts), the numbers behind the report's tables.
        report: File name of the report inside the output folder (``""``: none written).
        details: Everything else the study records, written at the top level of ``results.json``.
    """

    study: str
    model: dict
    config: dict
    headline: dict[str, dict]
    tables: dict[str, list[dict]] = field(default_factory=dict)
    report: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        clash = set(self.details) & set(_FIELDS)
        if clash:
            raise ValueError(f"study details may not be named {sorted(clash)}: those are Results fields")

    def to_json(self) -> dict:
        """The JSON object ``results.json`` holds."""
        return {"study": self.study, "model": self.model, "config": self.config, "headline": self.headline,
                "tables": self.tables, "report": self.report, **self.details}

    def __getitem__(self, key: str):
        if key in _FIELDS:
            return getattr(self, key)
        return self.details[key]

    def __iter__(self) -> Iterator[str]:
        return iter((*_FIELDS, *self.details))

    def __len__(self) -> int:
        return len(_FIELDS) + len(self.details)

    def write(self, out: str | Path) -> Path:
        """Write ``results.json`` into folder ``out`` atomically; returns its path."""
        path = Path(out) / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, data: dict) -> Results:
        """The :class:`Results` a ``results.json`` object holds (as :func:`veracity.experiments.load_results` reads it).

        Raises:
            ValueError: ``data`` lacks a field every study writes (``study``, ``model``, ``config``, ``headline``).
        """
        missing = [name for name in ("study", "model", "config", "headline") if name not in data]
        if missing:
            raise ValueError(f"results.json lacks {', '.join(missing)}: it was not written by a veracity study "
                             "of this version (run the study again)")
        details = {k: v for k, v in data.items() if k not in _FIELDS}
        return cls(data["study"], data["model"], data["config"], data["headline"], data.get("tables", {}),
                   data.get("report", ""), details)


MIN_HELD_OUT = 20
"""Fewer held-out rows than this and a study's figures carry a warning (in results.json and on stderr)."""


def study_results(study: str, model, config, headline: dict[str, dict], tables: dict[str, list[dict]] | None = None,
                  report: str = "report.html", **details) -> Results:
    """The :class:`Results` of a run of ``study`` on ``model`` with ``config`` (a dataclass or a dict).

    A held-out set under :data:`MIN_HELD_OUT` rows (``details["n_test"]``) adds a line to
    ``details["warnings"]`` and logs it: such figures (an AUROC of 1.000 on 2 questions) mean little.
    """
    n_test = details.get("n_test")
    if isinstance(n_test, int) and n_test < MIN_HELD_OUT:
        warning = (f"only {n_test} held-out rows (fewer than {MIN_HELD_OUT}): the figures and their intervals mean "
                   "little at this size; run with more questions (--n, or a larger --questions file)")
        details["warnings"] = [*details.get("warnings", []), warning]
        logging.getLogger(f"veracity.experiments.{study}").warning("%s: %s", study, warning)
    return Results(study, {"id": model.model_id, "n_layers": model.n_layers, "d_model": model.d_model},
                   asdict(config) if is_dataclass(config) else dict(config), headline, tables or {}, report, details)
