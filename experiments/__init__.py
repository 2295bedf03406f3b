"""Studies that wire hooks, probes and steering together and write ``results.json`` + ``report.html``.

Each study is a config dataclass plus ``run(config, model=None)`` (importable) and a thin ``main(argv, model=None)``
(``model``: one already loaded, so a notebook or a test suite loads it once):
``veracity run NAME --help`` (or ``python -m veracity.experiments.THEME.NAME --help``) lists its
options, which are the config's fields. The studies are grouped by theme: :mod:`.truth`,
:mod:`.knowing`, :mod:`.deception`, :mod:`.steering`, and the :mod:`.demo`. What every study shares
sits beside them: :mod:`.config` (the options), :mod:`.cli` (option parsing, one-line errors),
:mod:`.results` (``results.json``) and :mod:`.report` (``report.html``). Library pieces live in the
library (generation with a KV cache and P(True) in :mod:`veracity.hooks.generation`, splits and
bootstrap estimates in :mod:`veracity.probes.splits` and :mod:`veracity.probes.evaluation`); no
study imports another study.
"""

STUDIES = {
    "demo": "veracity.experiments.demo",
    "abstention": "veracity.experiments.knowing.abstention",
    "truth_sweep": "veracity.experiments.truth.truth_sweep",
    "pik": "veracity.experiments.knowing.pik",
    "pik_cross": "veracity.experiments.knowing.pik_cross",
    "calibration_gap": "veracity.experiments.knowing.calibration_gap",
    "verbal_calibration": "veracity.experiments.knowing.verbal_calibration",
    "behavioural_calibration": "veracity.experiments.knowing.behavioural_calibration",
    "polarity": "veracity.experiments.truth.polarity",
    "transfer": "veracity.experiments.truth.transfer",
    "token_view": "veracity.experiments.truth.token_view",
    "truthfulqa": "veracity.experiments.truth.truthfulqa",
    "deception_organism": "veracity.experiments.deception.deception_organism",
    "honesty_pressure": "veracity.experiments.deception.honesty_pressure",
    "lie_detection": "veracity.experiments.deception.lie_detection",
    "confessions": "veracity.experiments.deception.confessions",
    "organism_steering": "veracity.experiments.deception.organism_steering",
    "belief_drift": "veracity.experiments.deception.belief_drift",
    "poisoned_training": "veracity.experiments.deception.poisoned_training",
    "honesty_steering": "veracity.experiments.steering.honesty_steering",
    "east_bandit": "veracity.experiments.steering.east_bandit",
}
"""Study name (``veracity run NAME``) -> module."""

__all__ = ["STUDIES", "load_results"]


def load_results(path):
    """The ``results.json`` a study wrote, checked: a JSON object, or a list of objects (one per record).

    Args:
        path: The study's output folder (``--out``) or its ``results.json``.

    Returns:
        The parsed results (undefined metrics are ``NaN``, as written).

    Raises:
        FileNotFoundError: No ``results.json`` there.
        ValueError: The file is not UTF-8 JSON, or not an object or a list of objects.

    Example:
        >>> records = load_results("artifacts/truth_sweep/cities")  # doctest: +SKIP
    """
    import json
    from pathlib import Path

    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no results.json at {path}: pass the --out folder of a finished study run")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}): run the study again") from None
    records = results if isinstance(results, list) else [results]
    if not all(isinstance(record, dict) for record in records):
        raise ValueError(f"{file} is not a JSON object or a list of objects: it was not written by a veracity study")
    return results
